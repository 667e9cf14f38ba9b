"""The bundled zoo: shipped weights load and sample deterministically; bad input is named."""


import pytest
import torch

from evalkit import CheckpointError, UsageError
from evalkit.cli import main
from evalkit.zoo import nets
from evalkit.zoo.models import DCGAN, VAE, FashionClassifierFeatures, LatentDiffusion, models_dir
from evalkit.zoo.weights import load_module, save_weights

ZOO = [("fashion-dcgan", DCGAN), ("fashion-vae", VAE), ("fashion-ddpm", LatentDiffusion)]
have = {name: (models_dir() / f"{name}.safetensors").exists() for name, _ in ZOO}


@pytest.mark.parametrize("name,cls", ZOO)
def test_zoo_model_samples_deterministically_in_range(name, cls):
    if not have[name]:
        pytest.skip(f"{name} weights not shipped yet")
    gen = cls() if name != "fashion-ddpm" else cls(steps=5)
    labels = torch.arange(12) % 10
    a = gen.sample(12, labels=labels, generator=torch.Generator().manual_seed(3))
    b = gen.sample(12, labels=labels, generator=torch.Generator().manual_seed(3))
    assert a.shape == (12, 1, 28, 28) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_classifier_accuracy_on_test_images():
    from evalkit.data import fashion

    x, y = fashion.load("test")
    clf = FashionClassifierFeatures(torch.device("cpu"))
    xs = torch.from_numpy(x[:1000].copy()).float().div(255).unsqueeze(1)
    _, logits = clf.features_and_logits(xs)
    acc = (logits.argmax(1) == torch.from_numpy(y[:1000])).float().mean().item()
    assert acc >= 0.9  # 92.4% on all 10,000 (see models/fashion-classifier.md)


def test_mismatched_checkpoint_names_missing_and_extra_keys(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_weights(path, {"": nets.FashionClassifier(width=16)}, {})
    with pytest.raises(CheckpointError) as info:
        load_module(nets.FashionClassifier(), path)
    assert "wrong shapes" in str(info.value) and "body.0.weight" in str(info.value)
    save_weights(path, {"": nets.DCGANGenerator()}, {})
    with pytest.raises(CheckpointError) as info:
        load_module(nets.FashionClassifier(), path)
    msg = str(info.value)
    assert "missing keys [body.0.bias" in msg and "unexpected keys [embed.weight" in msg


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"\x80\x04 this is a pickle, not safetensors")
    with pytest.raises(CheckpointError) as info:
        VAE(checkpoint=path)
    assert "not a readable .safetensors file" in str(info.value)
    with pytest.raises(CheckpointError, match="not found"):
        VAE(checkpoint=tmp_path / "missing.safetensors")


def test_diffusion_parameters_are_checked():
    with pytest.raises(UsageError, match="steps must be a positive integer"):
        LatentDiffusion(steps=0)
    with pytest.raises(UsageError, match="guidance must be >= 0"):
        LatentDiffusion(guidance=-1.0)


@pytest.mark.skipif(not have["fashion-vae"], reason="VAE weights not shipped yet")
def test_labels_out_of_range_or_wrong_length():
    gen = VAE()
    g = torch.Generator().manual_seed(0)
    with pytest.raises(UsageError, match="labels must lie in 0..9"):
        gen.sample(2, labels=torch.tensor([0, 10]), generator=g)
    with pytest.raises(UsageError, match="length n=3"):
        gen.sample(3, labels=torch.tensor([0, 1]), generator=g)


def test_spec_with_bad_zoo_params(write_spec, capsys):
    spec = write_spec("""\
        version: 1
        name: z
        subjects:
          - model: fashion-ddpm
            params: {steps: 10, guidence: 2}
        requirements: [{check: finite, at_least: 0.5}]
    """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'guidence'; did you mean 'guidance'?" in err and "spec.yaml:5:" in err


def test_labels_asked_of_an_unconditional_user_model(write_spec, tmp_path, capsys):
    spec = write_spec("""\
        version: 1
        name: z
        features: pixels
        classifier: null
        subjects: [{model: "usergen:Blobs"}]
        sampling: {n: 10, batch_size: 10, labels: [1, 2]}
        requirements: [{check: finite, at_least: 0.5}]
    """)
    # found by validation (Blobs declares num_classes = None): exit 2, nothing ran
    assert main(["run", str(spec), "--out", str(tmp_path / "o")]) == 2
    assert "is unconditional" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_train_resumes_exactly(tmp_path):
    from evalkit.data import fashion
    from evalkit.zoo.train import train

    try:
        fashion.locate("train")
    except Exception:
        pytest.skip("Fashion-MNIST train split not installed (apt-get install dataset-fashion-mnist)")
    a = tmp_path / "a"
    train("fashion-vae", out=a, max_steps=2, checkpoint_every=1, progress=False)
    train("fashion-vae", out=a, max_steps=4, checkpoint_every=1, progress=False)
    b = tmp_path / "b"
    train("fashion-vae", out=b, max_steps=4, checkpoint_every=1, progress=False)
    sa = torch.load(a / "fashion-vae" / "checkpoint.pt", weights_only=True)
    sb = torch.load(b / "fashion-vae" / "checkpoint.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 4
    for k, v in sa["modules"]["net"].items():
        assert torch.equal(v, sb["modules"]["net"][k]), k
