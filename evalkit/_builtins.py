"""Declarations of evalkit's own extensions: every fact about each, stated once.

The implementations are named by ``module:attribute`` and imported on first use
(``registry.Entry.obj``), so validating a spec, listing the registry and printing
the schema read these declarations without importing torch. When a built-in is
loaded, its signature is held to the arguments declared here (names and
defaults), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from .registry import (
    Arg,
    Beside,
    CheckDecl,
    DatasetDecl,
    FeatureDecl,
    FormatDecl,
    GeneratorDecl,
    Input,
    Interval,
    MeasurementDecl,
    MetricDecl,
    Preprocessing,
    checks,
    datasets,
    default_states,
    features,
    formats,
    generators,
    measurements,
    metrics,
)

HERE = __name__
I = Input  # noqa: E741  (short on purpose: the declarations below name an input on every line)

# the one place the ink threshold of `ink`, `components` and `not_blank` is stated
INK_THRESHOLD = 0.25
# how the brightness measurements read a colour image (Observation.gray, contract.LUMA)
_LUMA_WORDS = "RGB: of the BT.601 luminance 0.299R + 0.587G + 0.114B"
_INK_WORDS = "RGB: a pixel is ink when its brightest channel is, so a saturated blue mark counts"

# k of the k-NN metrics: the library functions (metrics.functional.prdc) and the spec read these
DEFAULT_K = {"precision": 3, "recall": 3, "density": 5, "coverage": 5}

FASHION_SHAPE = (1, 28, 28)
FASHION_CLASSES = 10
FASHION_SPLITS = {"test": 10_000, "train": 60_000}
DDPM_TIMESTEPS = 1000

# inception-fid's images, as the TF graph and its ports (pytorch-fid, torch-fidelity) see them: PNG levels,
# grey as RGB, TensorFlow 1.x bilinear to 299x299, fed as 0..255 (the graph scales by (x - 128) / 128)
INCEPTION_FID_PREPROCESSING = Preprocessing(size=(299, 299), resize="tf-bilinear", channels=3, value_range=(0, 255),
                                            quantize=True, normalize=None)

_BOOT = "bootstrap"

# the published DINOv2 / CLIP image processors (facebook/dinov2-*, openai/clip-vit-large-patch14-336): what
# `dinov2` and `clip` declare; a weights folder's own preprocessor_config.json may say otherwise, and the
# built extractor records what it does (evalkit.observe.hf)
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI_CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HF_PREPROCESSING = {
    "dinov2": Preprocessing(size=(224, 224), resize="bicubic", channels=3, quantize=True, normalize=IMAGENET_MEAN_STD),
    "clip": Preprocessing(size=(336, 336), resize="bicubic", channels=3, quantize=True, normalize=OPENAI_CLIP_MEAN_STD),
}


def _measurement(name: str, help: str, *inputs: Input) -> None:
    measurements.declare(name, MeasurementDecl(inputs=inputs or (I.IMAGES,), help=help, module=HERE),
                         target=f"evalkit.observe.measurements:{name}")


def _check(name: str, help: str, inputs: tuple[Input, ...], *args: Arg) -> None:
    checks.declare(name, CheckDecl(inputs=inputs, args=args, help=help, module=HERE), target=f"evalkit.observe.checks:{name}")


def _metric(name: str, where: str, help: str, inputs: tuple[Input, ...], *args: Arg, higher_is_better: bool,
            interval: Interval, min_n: int, optional: tuple[Input, ...] = (), labelled_reference: bool = False) -> None:
    decl = MetricDecl(inputs=inputs, optional=optional, args=args, higher_is_better=higher_is_better, interval=interval,
                      min_n=min_n, states=default_states(inputs), help=help, module=HERE,
                      labelled_reference=labelled_reference)
    metrics.declare(name, decl, target=f"evalkit.metrics.{where}")  # where: "module:Class" in evalkit.metrics


def _measurements() -> None:
    _measurement("mean", f"Mean pixel value (brightness) in [0, 1] ({_LUMA_WORDS}).")
    _measurement("contrast", f"Standard deviation of the pixel values (RMS contrast; {_LUMA_WORDS}).")
    _measurement("ink", f"Share of pixels brighter than {INK_THRESHOLD} (ink coverage; {_INK_WORDS}).")
    _measurement("components", f"Connected components (8-neighbour) of the ink mask (pixels > {INK_THRESHOLD}; "
                               f"{_INK_WORDS}).")
    _measurement("symmetry", "Left-right mirror agreement: 1 - mean |x - flip(x)| over every pixel and channel "
                             "(1 = symmetric; RGB: the colours must mirror too).")
    _measurement("sharpness", f"Variance of the 3x3 Laplacian (higher = sharper edges; {_LUMA_WORDS}; NaN without two interior pixels).")
    _measurement("confidence", "The classifier's top softmax probability.", I.CLASSIFIER)
    _measurement("margin", "Top-1 minus top-2 softmax probability of the classifier.", I.CLASSIFIER)
    _measurement("entropy", "Entropy (nats) of the classifier's softmax.", I.CLASSIFIER)
    _measurement("predicted", "The class the classifier predicts.", I.CLASSIFIER)
    _measurement("label", "The class asked of the generator.", I.LABELS)
    _measurement("asked_prob", "The classifier's probability of the asked class.", I.CLASSIFIER, I.LABELS)
    _measurement("nn_distance", "Feature distance to the nearest training image.", I.TRAINING)
    _measurement("nn_ratio", "nn_distance divided by that training image's distance to its own nearest training neighbour.",
                 I.TRAINING)


def _checks() -> None:
    _check("finite", "Every pixel of every channel is a finite number (no NaN or Inf).", (I.IMAGES,))
    _check("in_range", "Every pixel of every channel lies in [low, high] (default [0, 1]).", (I.IMAGES,),
           Arg("low", float, 0.0), Arg("high", float, 1.0))
    _check("label_agreement", "The classifier predicts the asked class.", (I.CLASSIFIER, I.LABELS))
    _check("confident", "The classifier's top probability is at least `threshold`.", (I.CLASSIFIER,),
           Arg("threshold", float, 0.5, ge=0.0, le=1.0))
    _check("not_blank", f"Some ink (share of pixels > {INK_THRESHOLD} at least `min_ink`) and contrast (std at least "
                        f"`min_std`): the `ink` and `contrast` measurements (RGB: ink by the brightest channel, "
                        "contrast of the luminance).",
           (I.IMAGES,), Arg("min_ink", float, 0.01, ge=0.0, le=1.0), Arg("min_std", float, 0.02, ge=0.0))
    _check("not_memorized",
           "Not a training copy: nearest-training distance over that image's own neighbour distance exceeds `ratio`.",
           (I.TRAINING,), Arg("ratio", float, 1.0 / 3.0, gt=0.0))
    _check("no_duplicate", "No earlier sample of the run lies within RMS pixel distance `threshold` (a near-copy; "
                           "RMS over every pixel and channel).",
           (I.IMAGES, I.HISTORY), Arg("threshold", float, 0.02, ge=0.0))


def _metrics() -> None:
    # what every distribution-metric interval covers (metrics/intervals.py: ESTIMAND)
    est = "the metric's expected value over generated sets of this N against this (fixed) reference"
    delta = Interval("delta method", f"normal bounds from the influence function over generated samples, "
                                     f"skew-corrected; covers {est}")
    jack = Interval("jackknife", f"delete-one jackknife over generated samples, balls rebuilt; covers {est}")
    _metric("fid", "frechet:FID", "Fréchet distance between Gaussian fits of real and generated features (lower is better).",
            (I.FEATURES, I.REFERENCE), higher_is_better=False, interval=delta, min_n=2)
    _metric("kid", "kernel:KID", "Kernel Inception Distance: unbiased MMD^2, cubic polynomial kernel, over subsets.",
            (I.FEATURES, I.REFERENCE), Arg("subsets", int, 100, ge=2), Arg("subset_size", int, 1000, ge=2),
            higher_is_better=False, min_n=4,
            interval=Interval("jackknife", f"jackknife of the complete U-statistic plus subset noise; covers {est}"))
    _metric("cmmd", "cmmd:CMMD", "CMMD (Jayasumana et al.): 1000 x unbiased MMD^2, Gaussian RBF kernel (sigma 10 on CLIP "
            "embeddings; any features).", (I.FEATURES, I.REFERENCE), Arg("sigma", float, 10.0, gt=0.0),
            higher_is_better=False, min_n=4,
            interval=Interval("jackknife", f"jackknife of the U-statistic, skewness removed by Hall's transform; covers {est}"))
    _metric("precision", "manifold:Precision", "Share of generated samples inside the real k-NN manifold (Kynkäänniemi et al.).",
            (I.FEATURES, I.REFERENCE), Arg("k", int, DEFAULT_K["precision"], ge=1), higher_is_better=True, min_n=1,
            interval=Interval("clopper-pearson", f"exact one-sided binomial bounds on the share; covers {est}"))
    _metric("recall", "manifold:Recall", "Share of real samples inside the generated k-NN manifold (Kynkäänniemi et al.).",
            (I.FEATURES, I.REFERENCE), Arg("k", int, DEFAULT_K["recall"], ge=1), higher_is_better=True, min_n=5,
            interval=jack)
    _metric("coverage", "manifold:Coverage", "Share of real samples whose k-NN ball holds a generated sample (Naeem et al.).",
            (I.FEATURES, I.REFERENCE), Arg("k", int, DEFAULT_K["coverage"], ge=1), higher_is_better=True, min_n=2,
            interval=jack)
    _metric("density", "manifold:Density", "Mean number of real k-NN balls holding a generated sample, over k (Naeem et al.).",
            (I.FEATURES, I.REFERENCE), Arg("k", int, DEFAULT_K["density"], ge=1), higher_is_better=True, min_n=2,
            interval=Interval("normal", f"normal bounds over the per-sample ball counts, skew-corrected; covers {est}"))
    _metric("vendi", "diversity:Vendi", "Vendi score: effective number of distinct samples (cosine kernel; q = order).",
            (I.FEATURES,), Arg("q", float, 1.0, ge=0.0), higher_is_better=True, interval=delta, min_n=2)
    _metric("class_tv", "class_mix:ClassTV", "Total variation between predicted and asked class histograms (lower is better).",
            (I.CLASSIFIER, I.LABELS), Arg("bootstrap", int, 200, ge=0), higher_is_better=False, min_n=1,
            interval=Interval(_BOOT, "spread over resamples of the predictions, asked labels fixed"))
    _metric("memorized", "memorization:Memorized", "Share of samples closer to a training image than 1/3 of its neighbour distance.",
            (I.TRAINING,), Arg("ratio", float, 1.0 / 3.0, gt=0.0), higher_is_better=False, min_n=1,
            interval=Interval("clopper-pearson", "exact one-sided binomial bounds on the share of generated samples"))
    # retired (PASSed every non-significant test): the plan refuses a spec naming it with these words
    _metric("class_balance", "class_mix:ClassBalance", "Retired: use class_tv with at_most (a bound on the class mix, not a p-value).",
            (I.CLASSIFIER, I.LABELS), higher_is_better=True, min_n=1,
            interval=Interval("retired", "metric 'class_balance' is retired: it said PASS whenever its chi-square test "
                              "found no difference, which is absence of evidence, not evidence of balance; use "
                              "{metric: class_tv, at_most: 0.1} (total variation between predicted and asked class "
                              "mixes, PASS only when its upper bound is within 0.1)"))
    _metric("cas", "cas:CAS", "Classification accuracy score: a CNN trained on the samples, tested on real labelled images.",
            (I.IMAGES, I.LABELS, I.REFERENCE), Arg("epochs", int, 5, ge=1), optional=(I.TRAINING,),
            higher_is_better=True, min_n=10, labelled_reference=True,
            interval=Interval("clopper-pearson", "exact bounds over the real test images, conditional on the trained CNN"))


def _models() -> None:
    zoo: dict[str, Any] = dict(num_classes=FASHION_CLASSES, image_shape=FASHION_SHAPE, output_range=(0.0, 1.0),
                               module=HERE)  # the same facts of every zoo model
    generators.declare("fashion-dcgan", GeneratorDecl(
        help="Class-conditional DCGAN (projection discriminator, hinge loss, EMA generator).",
        weights=("fashion-dcgan.safetensors",), **zoo), target="evalkit.zoo.models:fashion_dcgan")
    generators.declare("fashion-vae", GeneratorDecl(
        help="Class-conditional VAE; codes drawn from per-class Gaussians fitted ex post (Bernoulli mean).",
        params=(Arg("temperature", float, 1.0, ge=0.0),), weights=("fashion-vae.safetensors",), **zoo),
        target="evalkit.zoo.models:fashion_vae")
    generators.declare("fashion-ddpm", GeneratorDecl(
        help="Class-conditional latent diffusion: DDIM sampling with classifier-free guidance.",
        params=(Arg("steps", int, 25, ge=1, le=DDPM_TIMESTEPS), Arg("guidance", float, 2.0, ge=0.0)),
        weights=("fashion-ddpm.safetensors",), **zoo), target="evalkit.zoo.models:fashion_ddpm")
    generators.declare("dataset", GeneratorDecl(
        help="Replays real images of the asked classes (the ideal model).",
        params=(Arg("dataset", str, "fashion-mnist"), Arg("split", str, "test"), Arg("range", list[int] | None, None)),
        num_classes=_dataset_classes, output_range=(0.0, 1.0), module=HERE), target="evalkit.data.datasets:dataset_generator")
    generators.declare("diffusers", GeneratorDecl(
        help="A diffusers save_pretrained folder (DDPMPipeline, DDIMPipeline, class-conditional DiTPipeline), "
        "safetensors only; classes and image shape read from its configs.",
        params=(Arg("path", str, help="the pipeline folder, relative to the spec's folder"),
                Arg("scheduler", str | None, None, help="ddim, ddpm or dpm: swap the saved scheduler"),
                Arg("num_inference_steps", int | None, None, ge=1, help="default: the pipeline's own"),
                Arg("guidance_scale", float | None, None, ge=0.0, help="DiT only; default: the pipeline's 4.0")),
        num_classes=None, image_shape=None, output_range=(0.0, 1.0), module=HERE,
        inspect="evalkit.data.diffusers_folder:inspect_subject"), target="evalkit.sample.diffusers:diffusers_pipeline")
    features.declare("pixels", FeatureDecl(help="Flattened pixel values (any image shape).", module=HERE),
                     target="evalkit.observe.features:pixel_extractor")
    features.declare("fashion-classifier", FeatureDecl(
        help="Bundled Fashion-MNIST CNN, 128-d penultimate layer (1x28x28 images).", dim=128,
        num_classes=FASHION_CLASSES, input_shape=FASHION_SHAPE, weights=("fashion-classifier.safetensors",), module=HERE),
        target="evalkit.zoo.models:fashion_classifier")
    features.declare("fashion-encoder", FeatureDecl(
        help="Bundled label-free Fashion-MNIST encoder (denoising autoencoder), 128-d bottleneck (1x28x28 images); "
             "the default feature space, independent of the label-judging classifier.", dim=128,
        input_shape=FASHION_SHAPE, weights=("fashion-encoder.safetensors",), module=HERE,
        preprocessing=Preprocessing(size=FASHION_SHAPE[1:], channels=1, value_range=(-1.0, 1.0))),
        target="evalkit.zoo.models:fashion_encoder")
    features.declare("dinov2", FeatureDecl(
        help="DINOv2 CLS token after the final layernorm (FD-DINOv2 = fid here), from a local safetensors folder "
             "(`feature_weights:`; docs/features.md).", preprocessing=HF_PREPROCESSING["dinov2"], reads_weights=True,
        module=HERE), target="evalkit.observe.hf:dinov2")
    features.declare("clip", FeatureDecl(
        help="CLIP projected image embedding, L2-normalised (CMMD = cmmd here), from a local safetensors folder "
             "(`feature_weights:`; docs/features.md).", preprocessing=HF_PREPROCESSING["clip"], reads_weights=True,
        module=HERE), target="evalkit.observe.hf:clip")
    features.declare("inception-fid", FeatureDecl(
        help="FID's Inception-v3 (TF graph 2015-12-05), 2048-d pool3, any size, grey or RGB; reads your "
             "pt_inception-2015-12-05-6726825d.pth (`feature_weights:`, $EVALKIT_INCEPTION_WEIGHTS or torch hub's "
             "cache; docs/fid.md).", dim=2048, input_shape=None, preprocessing=INCEPTION_FID_PREPROCESSING,
        reads_weights=True, module=HERE), target="evalkit.observe.inception:inception_fid")
    datasets.declare("fashion-mnist", DatasetDecl(
        help="Fashion-MNIST 28x28 grey clothing, 10 classes (test split bundled; train from Debian).",
        splits=FASHION_SPLITS, num_classes=FASHION_CLASSES, image_shape=FASHION_SHAPE, module=HERE),
        target="evalkit.data.datasets:fashion_mnist")


def _format(name: str, help: str, target: str, file: str, partial_file: str | None = None, *,
            needs: tuple[Beside, ...] = (), record: bool = False) -> None:
    formats.declare(name, FormatDecl(file=file, partial_file=partial_file, needs=needs, record=record, help=help,
                                     module=HERE), target=f"evalkit.report.{target}")


def _formats() -> None:
    # declared in the order a run writes them: the record first, which every other format restates
    _format("json", "The report record (schema MAJOR.MINOR): what every other format and verb reads.",
            "render:record_json", "report.json", "report.partial.json", record=True)
    _format("markdown", "report.md: provenance, the verdict grid, per subject its requirements, failing examples, metrics.",
            "render:markdown", "report.md", "report.partial.md")
    # junit and html show final verdicts only: an interrupted run's would read as decided
    _format("junit", "junit.xml: one testsuite per subject, one testcase per requirement, agreeing with the exit code.",
            "render:junit", "junit.xml")
    _format("html", "report.html: one self-contained page with the sample grids, plots and the baseline comparison.",
            "html:page", "report.html", needs=(Beside.SAMPLES, Beside.BASELINE))


def _dataset_classes(params: dict) -> int | None:
    name = params.get("dataset", "fashion-mnist")
    return datasets.get(name).decl.num_classes if name in datasets else None


_declared = False


def declare() -> None:
    """Declare every built-in, once (measurements first: metrics and checks may read them)."""
    global _declared
    if _declared:
        return
    _declared = True
    _measurements()
    _checks()
    _metrics()
    _models()
    _formats()
