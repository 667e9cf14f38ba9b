"""What validation finds before anything samples: shapes that cannot meet, a user classifier without
enough classes, and valid specs that cannot say what their author meant (warnings; errors under --strict)."""

import contextlib
import io

import numpy as np
import pytest

from evalkit.cli import main

RGB_GEN = (
    "import torch\n"
    "class Gen:\n"
    "    image_shape = (3, 32, 32)\n"
    "    num_classes = 4\n"
    "    def sample(self, n, *, labels, generator):\n"
    "        return torch.rand(n, 3, 32, 32, generator=generator)\n"
    "def three_logits(x):\n"
    "    return x.mean(dim=(2, 3))\n"      # (N, 3): a 3-class 'classifier' of 3x32x32 images
)


def _cli(*argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue() + err.getvalue()


def _write(tmp_path, body: str):
    (tmp_path / "rgbgen.py").write_text(RGB_GEN)
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: v\n" + body)
    return spec


def test_rgb_subject_against_the_grey_reference_is_refused_at_validate(tmp_path):
    spec = _write(tmp_path, "reference: {dataset: fashion-mnist, split: test}\nfeatures: pixels\nclassifier: null\n"
                            "subjects:\n  - model: rgbgen:Gen\n"
                            "requirements:\n  - {metric: fid, at_most: 100}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, text = _cli("validate", str(spec))
    assert code == 2, text
    assert "s.yaml:7:5: subjects[0]" in text and "3x32x32" in text and "1x28x28" in text, text
    assert "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == before


def test_npz_of_another_size_than_the_reference_is_refused(tmp_path):
    np.savez(tmp_path / "ref.npz", images=np.zeros((8, 3, 64, 64), np.float32))
    np.savez(tmp_path / "gen.npz", images=np.zeros((8, 3, 32, 32), np.float32))
    spec = _write(tmp_path, "reference: {path: ref.npz}\nfeatures: pixels\nclassifier: null\n"
                            "subjects:\n  - path: gen.npz\nsampling: {n: 8, batch_size: 8}\n"
                            "requirements:\n  - {metric: precision, at_least: 0.1}\n")
    code, text = _cli("validate", str(spec))
    assert code == 2 and "3x32x32" in text and "3x64x64" in text, text


def test_matching_shapes_validate(tmp_path):
    np.savez(tmp_path / "ref.npz", images=np.zeros((8, 3, 32, 32), np.float32))
    spec = _write(tmp_path, "reference: {path: ref.npz}\nfeatures: pixels\nclassifier: null\n"
                            "subjects:\n  - model: rgbgen:Gen\n"
                            "requirements:\n  - {metric: fid, at_most: 100}\n")
    code, text = _cli("validate", str(spec))
    assert code == 0, text


def test_user_classifier_with_fewer_classes_than_the_subject_is_refused_at_validate(tmp_path):
    spec = _write(tmp_path, "features: pixels\nclassifier: rgbgen:three_logits\n"
                            "subjects:\n  - model: rgbgen:Gen\n"
                            "requirements:\n  - {check: label_agreement, at_least: 0.5}\n")
    code, text = _cli("validate", str(spec))
    assert code == 2, text
    assert "s.yaml:4:13: classifier" in text and "3 classes" in text and "4" in text, text


@pytest.mark.parametrize("req, field", [
    ("{name: r, check: finite, at_least: 0}", "requirements[0].at_least"),
    ("{name: r, check: finite, at_least: 1}", "requirements[0].at_least"),
    ("{metric: fid, at_most: 0}", "requirements[0].at_most"),
])
def test_vacuous_or_unreachable_bounds_warn_and_fail_under_strict(tmp_path, req, field):
    spec = _write(tmp_path, "features: pixels\nclassifier: null\nreference: {dataset: fashion-mnist, split: test}\n"
                            "subjects:\n  - model: fashion-vae\n"
                            f"requirements:\n  - {req}\n")
    code, text = _cli("validate", str(spec))
    assert code == 0 and "warning:" in text and field in text, text
    code, text = _cli("validate", "--strict", str(spec))
    assert code == 2 and "error:" in text and field in text, text


@pytest.mark.parametrize("twin", ["vae\u2010a", "v\u0430e-a", "vae-a\u200b", "vae-a "])
def test_look_alike_names_are_named_together(tmp_path, twin):
    spec = _write(tmp_path, "features: pixels\nclassifier: null\n"
                            "subjects:\n  - {model: fashion-vae, name: vae-a}\n"
                            f"  - {{model: fashion-vae, name: \"{twin}\"}}\n"
                            "requirements:\n  - {check: finite, at_least: 0.5}\n")
    code, text = _cli("validate", str(spec))
    assert code == 0, text
    assert "'vae-a'" in text and "look alike" in text, text
    code, _ = _cli("validate", "--strict", str(spec))
    assert code == 2


def test_cas_against_an_unlabelled_reference_is_refused_at_validate(tmp_path):
    """Found by the drawn specs: the run broke after validate passed."""
    np.savez(tmp_path / "ref.npz", images=np.zeros((8, 1, 28, 28), np.float32))
    spec = _write(tmp_path, "reference: {path: ref.npz}\nclassifier: null\n"
                            "subjects:\n  - model: dataset\nsampling: {n: 20, batch_size: 10}\n"
                            "requirements:\n  - {metric: cas, at_least: 0.05}\n")
    code, text = _cli("validate", str(spec))
    assert code == 2 and "requirements[0].metric" in text and "carries no labels" in text, text
    np.savez(tmp_path / "ref.npz", images=np.zeros((8, 1, 28, 28), np.float32), labels=np.arange(8) % 2)
    code, text = _cli("validate", str(spec))
    assert code == 0, text


@pytest.mark.parametrize("kind", ["npz", "folder"])
def test_an_image_set_smaller_than_n_is_refused_at_validate(tmp_path, kind):
    """Found by the docs-specs test: a 20-image subject with n: 40 validated, then broke at run time."""
    from PIL import Image

    if kind == "npz":
        np.savez(tmp_path / "few.npz", images=np.zeros((12, 1, 28, 28), np.float32))
        path = "few.npz"
    else:
        (tmp_path / "few").mkdir()
        for k in range(12):
            Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "few" / f"{k}.png")
        path = "few/"
    spec = _write(tmp_path, f"features: pixels\nclassifier: null\nsubjects:\n  - path: {path}\n"
                            "sampling: {n: 13, batch_size: 13}\nrequirements:\n  - {check: finite, at_least: 0.5}\n")
    code, text = _cli("validate", str(spec))
    assert code == 2, text
    assert "s.yaml:6:11: subjects[0].path" in text and "holds 12 images but sampling.n asks 13" in text, text
    assert "--n 12" in text and "Traceback" not in text
    spec.write_text(spec.read_text().replace("n: 13, batch_size: 13", "n: 12, batch_size: 12"))
    assert _cli("validate", str(spec))[0] == 0
