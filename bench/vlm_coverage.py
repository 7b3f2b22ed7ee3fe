"""Coverage of every image-text-to-text family: what DeepSynth does with a tiny random model of each.

    PYTHONPATH=. python bench/vlm_coverage.py [--families a,b] [--timeout 240] \
        [--out docs/VLM_COVERAGE.md] [--results docs/VLM_COVERAGE.json] [--merge-into docs/VLM_COVERAGE.json]

For every `model_type` transformers maps to `AutoModelForImageTextToText`
(`MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES`), in its own subprocess (argv list, a timeout), each
stage recorded yes/no with its error:

- builds tiny: `models/vlm/tiny_any.build_tiny_any` writes a tiny random model + processor folder;
- loads: DeepSynth's `detect_kind` classes the folder image-text-to-text and `build_document_model`
  builds it with LoRA on the language model only (checked: every trainable parameter is LoRA under
  the language model's path);
- trains: three `TrainingLoop` steps on two one-page documents, finite losses;
- learns: the same two examples, the loss at least halves within 30 steps (from the first step's);
- caches: the tower's features are cached and the cached-feature loss equals the live-tower loss;
- parameters exact: the estimator's total and trainable counts (`estimate.params.count_parameters`:
  a family description, or for every other family the meta-device build with DeepSynth's LoRA,
  `estimate/vlm/structure.py`) equal PEFT's on the loaded tiny model (rank 4, alpha 8);
- peak memory within 10% of the estimate: what is measured is the transient peak of ONE call of
  DeepSynth's `TrainingLoop.train_step` (the first step of a fresh rank-4 model, so AdamW's state is
  created in it) on the two-document batch DeepSynth collates (cached tower features where the
  family caches them): the running sum of the CPU allocator's allocation and free events that
  `torch.profiler(profile_memory=True)` records during the step (`training/memory.
  profile_step_peak_bytes`), i.e. activations + parameter gradients + optimizer state + temporaries
  above what existed before the step (weights and the batch excluded, as is the whole process's RSS).
  The estimate it is held against: `Estimate.step_peak` (the same step traced on the meta device,
  `estimate/vlm/structural_step.py`, an independent mechanism: a TorchDispatchMode counting storage
  bytes) for families described from their structure; for the six with a family description, its
  activations (less the batch's bytes) + gradients + optimizer terms. The workload is read from the
  batch (`estimate/vlm/live.vlm_workload`). Yes when |estimate - measured| <= 10% of measured;
- exports: DeepSynth's package of the adapter (`export_package`), imported (`import_package`, shapes
  checked against the base), infers on a page (`Summarizer`) exactly what the trained model
  generates; the adapter reloaded in plain PEFT on the folder's model gives the same logits;
- merges: the merged folder `deepsynth export --merge` writes (`write_merged`, fp32 here) loads in
  plain `AutoModelForImageTextToText` with its processor and gives base + adapter's logits.

A stage runs only when the ones before it passed (learns, caches and parameters need loads).
`docs/VLM_COVERAGE.md` and the results JSON say the commit they were made on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PEAK_MEMORY = "peak memory within 10% of the estimate"
STAGES = ("builds tiny", "loads", "trains", "learns", "caches", "parameters exact", PEAK_MEMORY, "exports", "merges")
PEAK_TOLERANCE = 0.10
LEARN_STEPS = 30
LEARN_RATE = 2e-2
LEARN_RANK = 16
SUMMARIES = ["A cat sat.", "Rivers flow to the sea."]
INSTRUCTIONS = ["", "Summarize briefly."]
NOT_A_READER = {
    "evolla": "not a reader of images into text: a protein-sequence model",
    "pi0": "not a reader of images into text: a robot-action model",
    "vision-encoder-decoder": "a composite class, not one family (DeepSynth loads it through its own kind, "
                              "models/vlm/vision_encoder_decoder.py)",
}
"""model_types among the 97 that are not one image-to-text family (the coverage table's reason)."""


RESULTS = ROOT / "docs" / "VLM_COVERAGE.json"
"""The results file of the table (deepsynth/results_file.py's format; beside the table rather than
under docs/results/, whose files each need a results block in the README)."""
SAMPLE_SIZE = 8
SAMPLE_SEED = "vlm-coverage"
"""The sample's seed where no git commit is at hand (a source tarball)."""


def recorded_results(path: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """model_type -> its recorded result ({"stages": {...}}) from the results file of the last run."""
    return json.loads(path.read_text(encoding="utf-8"))["figures"]["families"]


def head_commit() -> str:
    """The checkout's HEAD commit, or SAMPLE_SEED outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=str(ROOT), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return SAMPLE_SEED
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else SAMPLE_SEED


def sample_families(seed: str, candidates: list[str], size: int = SAMPLE_SIZE) -> list[str]:
    """`size` of `candidates` chosen by `seed` (a commit hash): the same seed, the same families."""
    import hashlib
    import random

    number = int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16)
    return sorted(random.Random(number).sample(sorted(candidates), min(size, len(candidates))))


def all_model_types() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return list(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def _page(text: str, width: int = 200, height: int = 260):
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).text((10, 10), text, fill=0)
    return image


def documents() -> list[list[Any]]:
    """Two one-page documents."""
    return [[_page("A cat sat on the mat.")], [_page("Rivers flow to the sea.", 96, 96)]]


def _error(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:400]}"


class StageRunner:
    """Runs the stages on one model_type, recording each as {"ok": bool, "error": str, ...}."""

    def __init__(self, model_type: str, work: Path) -> None:
        self.model_type = model_type
        self.work = work
        self.stages: dict[str, dict[str, Any]] = {}
        self.model: Any = None

    def stage(self, name: str, body: Callable[[], dict[str, Any] | None]) -> bool:
        started = time.process_time()
        try:
            extra = body() or {}
            self.stages[name] = {"ok": True, "error": "", **extra}
        except Exception as error:  # noqa: BLE001 - every failure is a finding, recorded with its error
            self.stages[name] = {"ok": False, "error": _error(error)}
        self.stages[name]["cpu_s"] = round(time.process_time() - started, 2)
        return self.stages[name]["ok"]

    # -- the stages ------------------------------------------------------------------------------
    def build_tiny(self) -> None:
        from deepsynth.models.vlm.tiny_any import build_tiny_any

        build_tiny_any(self.model_type, self.work / "model")

    def _build(self, rank: int = 4) -> Any:
        from deepsynth.lora import LoraSettings
        from deepsynth.models import ModelConfig, build_document_model

        return build_document_model(ModelConfig(name=str(self.work / "model"), max_target_tokens=12),
                                    LoraSettings(rank=rank, alpha=2 * rank, dropout=0.0))

    def load(self) -> dict[str, Any]:
        from deepsynth.models.kinds import IMAGE_TEXT_TO_TEXT, detect_kind

        detected = detect_kind(str(self.work / "model"))
        if detected.kind.name != IMAGE_TEXT_TO_TEXT.name:
            raise AssertionError(f"detect_kind classed the folder {detected.kind.name}, not {IMAGE_TEXT_TO_TEXT.name}")
        self.model = self._build()
        lm_path = self.model.identity["language_model"]
        trainable = [n for n, p in self.model.named_parameters() if p.requires_grad]
        outside = [n for n in trainable if not (".lora_" in n and f".{lm_path}." in n)]
        if not trainable or outside:
            raise AssertionError(f"trainable parameters outside LoRA on {lm_path}: {outside[:3]}")
        return {"language_model": lm_path, "vision_tower": self.model.identity.get("vision_tower"),
                "projector": self.model.identity.get("projector")}

    def _batch(self) -> dict[str, Any]:
        readings = self.model.read_documents(documents())
        return self.model.collate(readings, INSTRUCTIONS, SUMMARIES)

    def train(self) -> dict[str, Any]:
        from deepsynth.training.loop import TrainingLoop

        batch = self._batch()
        self.model.train()
        loop = TrainingLoop(self.model, learning_rate=1e-3, total_steps=3, schedule="constant")
        losses = [loop.train_step(batch).loss for _ in range(3)]
        if not all(math.isfinite(loss) for loss in losses):
            raise AssertionError(f"non-finite losses {losses}")
        return {"losses": [round(loss, 4) for loss in losses]}

    def learn(self) -> dict[str, Any]:
        from deepsynth.training.loop import TrainingLoop

        model = self._build(LEARN_RANK)  # fresh LoRA: the loss from where a user's first step starts
        trained, self.model = self.model, model
        try:
            batch = self._batch()
        finally:
            self.model = trained  # the later stages use the rank-4 model the estimate describes
        model.train()
        loop = TrainingLoop(model, learning_rate=LEARN_RATE, total_steps=LEARN_STEPS, schedule="constant")
        losses = []
        for _ in range(LEARN_STEPS):
            losses.append(loop.train_step(batch).loss)
            if losses[-1] <= losses[0] / 2:
                break
        if not losses[-1] <= losses[0] / 2:
            raise AssertionError(f"the loss went {losses[0]:.3f} -> {min(losses):.3f} (lowest) in {LEARN_STEPS} steps")
        return {"first_loss": round(losses[0], 4), "halved_at_step": len(losses), "last_loss": round(losses[-1], 4)}

    def cache(self) -> dict[str, Any]:
        import torch

        model = self.model
        if not model.caches_features:
            raise AssertionError("the tower's features are not cached (see build_vlm's warning)")
        model.eval()
        cached = self._batch()
        model.reader.cache_features = False
        try:
            live = self._batch()
        finally:
            model.reader.cache_features = True
        with torch.no_grad():
            a, b = float(model(**cached)), float(model(**live))
        if not math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5):
            raise AssertionError(f"cached-feature loss {a:.6f} != live loss {b:.6f}")
        return {"loss": round(a, 6)}

    def parameters(self) -> dict[str, Any]:
        from deepsynth.estimate.builtin import load_architecture
        from deepsynth.estimate.params import count_parameters
        from deepsynth.lora import LoraSettings

        arch = load_architecture(str(self.work / "model"))
        estimate = count_parameters(arch, LoraSettings(rank=4, alpha=8, dropout=0.0))
        peft = self.model.decoder
        total = sum(p.numel() for p in peft.parameters())
        trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
        if (estimate.total, estimate.trainable) != (total, trainable):
            raise AssertionError(f"estimate total {estimate.total:,} trainable {estimate.trainable:,}; "
                                 f"PEFT {total:,} and {trainable:,}")
        return {"total": total, "trainable": trainable}

    def peak_memory(self) -> dict[str, Any]:
        from deepsynth.estimate.builtin import load_architecture
        from deepsynth.estimate.estimator import estimate
        from deepsynth.estimate.vlm.live import vlm_workload
        from deepsynth.lora import LoraSettings
        from deepsynth.training.loop import TrainingLoop
        from deepsynth.training.memory import profile_step_peak_bytes, tensor_bytes

        model = self._build(4)  # fresh: its first step creates the optimizer state, as a run's first step
        trained, self.model = self.model, model
        try:
            batch = self._batch()
        finally:
            self.model = trained
        model.train()
        loop = TrainingLoop(model, learning_rate=1e-3, total_steps=3, schedule="constant")
        measured, _ = profile_step_peak_bytes(lambda: loop.train_step(batch))
        arch = load_architecture(str(self.work / "model"))
        config = model.decoder.get_base_model().config.to_dict()
        workload = vlm_workload(arch, model, batch, config)
        result = estimate(arch, LoraSettings(rank=4, alpha=8, dropout=0.0), workload)
        if result.step_peak is not None:
            predicted, source = result.step_peak, "traced step (Estimate.step_peak)"
        else:
            memory = result.memory
            predicted = (memory.activations.bytes - tensor_bytes(batch) + memory.gradients.bytes
                         + memory.optimizer.bytes)
            source = "activations - batch + gradients + optimizer terms"
        ratio = predicted / max(measured, 1)
        figures = {"measured_bytes": measured, "estimated_bytes": predicted, "ratio": round(ratio, 4),
                   "estimate": source, "features_cached": workload.vision_cached,
                   "tokens": [workload.batch_size, workload.seq_len, workload.image_tokens, workload.target_tokens]}
        if abs(ratio - 1) > PEAK_TOLERANCE:
            raise AssertionError(f"estimated {predicted:,} B, measured {measured:,} B (x{ratio:.3f}; {source})")
        return figures

    def _plain_logits(self, model: Any) -> Any:
        """Logits of `model` on a fixed probe: five token ids (and five decoder ids for an
        encoder-decoder; a zero box per token where the forward takes `bbox`); for a family whose
        forward needs the page (Pix2Struct's `flattened_patches`, BLIP's and IDEFICS's pixels), the
        processor's tensors of a page's prompt opening as DeepSynth reads it."""
        import inspect

        import torch

        ids = torch.tensor([[5, 6, 7, 8, 9]])
        kwargs: dict[str, Any] = {"decoder_input_ids": ids} if model.config.is_encoder_decoder else {}
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        if "bbox" in inspect.signature(inner.forward).parameters:  # UDOP: a box per token (here all empty)
            kwargs["bbox"] = torch.zeros((1, ids.shape[1], 4))
        with torch.no_grad():
            try:
                return model(input_ids=ids, **kwargs).logits
            except (ValueError, TypeError):  # the forward needs the page (Pix2Struct, BLIP, IDEFICS)
                page, reader = documents()[0], self.model.reader
                encoded = (reader.processor_inputs(page) if hasattr(reader, "processor_inputs") else
                           self.model.processor(images=page[0].convert("RGB"), return_tensors="pt"))
                accepted = inspect.signature(inner.forward).parameters
                kwargs.update({k: v for k, v in encoded.items() if k in accepted and torch.is_tensor(v)})
                return model(**kwargs).logits

    def export(self) -> dict[str, Any]:
        """DeepSynth's package: `export_package` -> `import_package` (shapes checked against the base)
        -> `Summarizer` on a page gives the trained model's own greedy output; and plain PEFT on the
        folder's model loads the adapter to the same logits."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForImageTextToText

        from deepsynth.export.package import export_package
        from deepsynth.export.safe_import import import_package
        from deepsynth.inference import Summarizer

        with torch.no_grad():
            for name, parameter in self.model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))
        self.model.eval()
        self.adapter = self.model.save_adapter(self.work / "adapter")
        page = documents()[0]
        expected = self.model.generate(self.model.collate(self.model.read_documents([page]), [""]), max_new_tokens=6)[0]
        package = export_package(self.adapter, self.work / "adapter.zip")
        imported = import_package(package, self.work / "imported", allowed_locations=[str(self.work / "model")])
        image = self.work / "page.png"
        page[0].save(image)
        inferred = Summarizer.for_adapter(imported.path, label="adapter").summarize(image=str(image), max_new_tokens=6)
        if inferred != expected:
            raise AssertionError(f"imported adapter infers {inferred!r}, the trained model {expected!r}")
        base = AutoModelForImageTextToText.from_pretrained(str(self.work / "model"), trust_remote_code=False)
        vanilla = PeftModel.from_pretrained(base, str(self.adapter)).eval()
        ours = self._plain_logits(self.model.decoder)
        torch.testing.assert_close(self._plain_logits(vanilla), ours)
        self.ours = ours
        return {"inferred": inferred}

    def merge(self) -> None:
        """`write_merged` (what `deepsynth export --merge` / `deepsynth merge` write): a folder plain
        transformers loads (`AutoModelForImageTextToText`, the processor beside it) whose logits are
        base + adapter's."""
        import torch
        from transformers import AutoModelForImageTextToText

        from deepsynth.export.merge import write_merged
        from deepsynth.models.vlm.processor import load_processor

        write_merged(self.adapter, self.work / "merged", dtype="float32")
        merged = AutoModelForImageTextToText.from_pretrained(str(self.work / "merged"), trust_remote_code=False).eval()
        load_processor(str(self.work / "merged"))  # the processor travels with the merged weights
        torch.testing.assert_close(self._plain_logits(merged), self.ours, rtol=1e-4, atol=1e-4)

    def run(self, stages: tuple[str, ...] = STAGES) -> dict[str, dict[str, Any]]:
        if self.model_type in NOT_A_READER:
            self.stages["builds tiny"] = {"ok": False, "error": NOT_A_READER[self.model_type]}
            return self.stages
        if not self.stage("builds tiny", self.build_tiny) or "loads" not in stages:
            return self.stages
        if not self.stage("loads", self.load):
            return self.stages
        if "trains" in stages and self.stage("trains", self.train) and "learns" in stages:
            self.stage("learns", self.learn)
        for name, body in (("caches", self.cache), ("parameters exact", self.parameters), (PEAK_MEMORY, self.peak_memory)):
            if name in stages:
                self.stage(name, body)
        if "exports" in stages and self.stage("exports", self.export) and "merges" in stages:
            self.stage("merges", self.merge)
        return self.stages


def run_one(model_type: str, stages: tuple[str, ...] = STAGES) -> dict[str, dict[str, Any]]:
    """The stages of `model_type` in this process (a temporary folder for the tiny model)."""
    with tempfile.TemporaryDirectory(prefix="vlm-coverage-") as work:
        return StageRunner(model_type, Path(work)).run(stages)


def run_in_subprocess(model_type: str, timeout: float, stages: tuple[str, ...] = STAGES) -> dict[str, Any]:
    """`run_one` in a child process (argv list, no shell) with a wall-clock timeout."""
    with tempfile.TemporaryDirectory(prefix="vlm-coverage-out-") as out:
        result_file = Path(out) / "result.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--one", model_type, "--result-file",
                str(result_file), "--stages", ",".join(stages)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
        except subprocess.TimeoutExpired:
            partial = json.loads(result_file.read_text()) if result_file.is_file() else {}
            return {"stages": partial, "timed_out": True, "wall_s": round(time.monotonic() - started, 1),
                    "error": f"timed out after {timeout:.0f} s"}
        wall = round(time.monotonic() - started, 1)
        if result_file.is_file():
            return {"stages": json.loads(result_file.read_text()), "timed_out": False, "wall_s": wall}
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[:400]
        return {"stages": {}, "timed_out": False, "wall_s": wall, "error": f"child exited {done.returncode}: {tail}"}


TRANSFORMERS_ERRORS = {
    "fuyu": ("transpose() takes 2 positional arguments",
             "FuyuProcessor hands FuyuImageProcessorPil.patchify_image a torch tensor, on which it calls numpy's "
             "transpose(0, 1, 3, 2, 4) (image_processing_pil_fuyu.py:288), so no page reaches the model; Fuyu's "
             "other image processor needs torchvision (reproduced with plain transformers in "
             "tests/models/vlm/test_tiny_transformers_errors.py)"),
}
"""model_type -> (a fragment of the error, what transformers 5.23 does wrong): failures traced to a
named error in transformers itself, each reproduced without DeepSynth in
tests/models/vlm/test_tiny_transformers_errors.py (which fails once transformers no longer raises it)."""


def reason_class(error: str, model_type: str = "") -> str:
    """Which of the allowed reasons a failure is: not a reader of images into text, a package the
    registry lacks (torchvision: its wheel for our torch pin is a CUDA build), a named error in
    transformers itself (`TRANSFORMERS_ERRORS`), else a DeepSynth gap (DeepSynth's code or the tiny
    settings of `tiny_settings.py`), shown with the error it gave."""
    if error.startswith(("not a reader", "a composite class")) or "not a reader of images into text" in error:
        return "not an image-to-text family"
    if "requires the timm library" in error:
        return "needs timm, which requires torchvision (not installable here)"
    if "torchvision" in error.lower():
        return "needs torchvision (not installable here)"
    fragment, _ = TRANSFORMERS_ERRORS.get(model_type, (None, ""))
    if fragment and fragment in error:
        return f"an error in transformers 5.23 itself: {TRANSFORMERS_ERRORS[model_type][1]}"
    return "DeepSynth gap"


def why_not(result: dict[str, Any], model_type: str = "") -> str:
    """The first failed stage, its reason class and its error (or the timeout)."""
    for name in STAGES:
        stage = result["stages"].get(name)
        if stage is not None and not stage["ok"]:
            return f"{reason_class(stage['error'], model_type)} — {name}: {stage['error']}"
    if result.get("error"):
        return f"DeepSynth gap — {result['error']}"
    return ""


def _cell(result: dict[str, Any], name: str) -> str:
    stage = result["stages"].get(name)
    return "—" if stage is None else ("yes" if stage["ok"] else "no")


def markdown(results: dict[str, dict[str, Any]], commit: str) -> str:
    trains_and_learns = [m for m, r in results.items() if all(
        r["stages"].get(s, {}).get("ok") for s in ("trains", "learns"))]
    counts = {name: sum(1 for r in results.values() if r["stages"].get(name, {}).get("ok")) for name in STAGES}
    lines = [
        "# VLM coverage: every image-text-to-text family of transformers 5.23",
        "",
        f"Made by `bench/vlm_coverage.py` on commit(s) `{commit}` (each family's in the results JSON; CPU, tiny random models from "
        "`deepsynth/models/vlm/tiny_any.py`; stages are defined in the script's docstring; "
        "\"—\": not run because an earlier stage failed).",
        "",
        f"{len(results)} model_types; " + ", ".join(f"{name}: {counts[name]}" for name in STAGES) + ". "
        f"Train and learn: **{len(trains_and_learns)}**.",
        "",
        "Why not: the first stage that failed, with its class and the error it raised. \"not an image-to-text "
        "family\": a protein, robot-action, image-safety-classifier or text-only model, or the VisionEncoderDecoder "
        "composite (its own kind in DeepSynth). \"needs torchvision\": the family's only image processor, its "
        "processor or its video part needs torchvision, whose wheel for our torch pin is a CUDA build that fails "
        "against the CPU torch. \"needs timm\": the tower is a timm model (`TimmWrapperModel`); timm is in the "
        "registry but requires torchvision. \"an error in transformers 5.23 itself\": reproduced without DeepSynth "
        "in `tests/models/vlm/test_tiny_transformers_errors.py`. \"DeepSynth gap\": everything else, counted "
        "against DeepSynth: its VLM code or the tiny settings (`deepsynth/models/vlm/tiny_settings.py`) this "
        "bench builds the family from. Families outside the family table (`deepsynth/models/vlm/families.py`) "
        "are estimated from their structure (`deepsynth/estimate/vlm/structure.py`: a meta-device build with "
        "DeepSynth's LoRA; the step traced on meta tensors).",
        "",
        "| family | " + " | ".join(STAGES) + " | why not |",
        "|---|" + "---|" * len(STAGES) + "---|",
    ]
    for model_type, result in results.items():
        reason = why_not(result, model_type).replace("|", "\\|")
        lines.append(f"| {model_type} | " + " | ".join(_cell(result, s) for s in STAGES) + f" | {reason} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="", help="comma-separated model_types (default: all)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per family")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--out", default="", help="write the Markdown table here")
    parser.add_argument("--results", default="", help="write the results JSON here")
    parser.add_argument("--merge-into", default="",
                        help="a results JSON of an earlier run: keep its families, replace the ones run now")
    parser.add_argument("--render-from", default="", help="only render --out from this results JSON")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    stages = tuple(s for s in args.stages.split(",") if s)
    if args.render_from:  # the Markdown table of a results file, without running anything
        recorded = json.loads(Path(args.render_from).read_text(encoding="utf-8"))
        commits = sorted({str(r.get("commit") or recorded["git"].get("commit") or "")[:12]
                          for r in recorded["figures"]["families"].values()})
        text = markdown(recorded["figures"]["families"], ", ".join(commits))
        Path(args.out or "/dev/stdout").write_text(text, encoding="utf-8")
        return
    if args.one:  # the child: run one family, write its stages
        import torch

        torch.set_num_threads(1)
        result = run_one(args.one, stages)
        Path(args.result_file).write_text(json.dumps(result, indent=1))
        return
    sys.path.insert(0, str(ROOT))
    from deepsynth.results_file import Table, start_measuring, write_results

    started = start_measuring()
    families = [f for f in args.families.split(",") if f] or all_model_types()
    results: dict[str, dict[str, Any]] = {}
    for model_type in families:
        results[model_type] = run_in_subprocess(model_type, args.timeout, stages)
        print(f"{model_type:<28}" + " ".join(_cell(results[model_type], s)[:3].ljust(4) for s in STAGES)
              + f" {results[model_type]['wall_s']:>6.1f}s  {why_not(results[model_type], model_type)[:150]}", flush=True)
    commit = str(started.git.get("commit") or "")[:12]
    for result in results.values():
        result["commit"] = commit
    if args.merge_into:  # an earlier run's families, each with the commit it ran on, then this run's
        earlier = json.loads(Path(args.merge_into).read_text(encoding="utf-8"))
        kept = earlier["figures"]["families"]
        for result in kept.values():
            result.setdefault("commit", str(earlier["git"].get("commit") or "")[:12])
        results = {m: results.get(m, kept.get(m)) for m in dict.fromkeys([*kept, *results])}
    commits = sorted({r["commit"] for r in results.values()})
    text = markdown(results, ", ".join(commits))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if args.results:
        rows = [[m, *[_cell(r, s) for s in STAGES], why_not(r, m)] for m, r in results.items()]
        learned = sum(1 for r in results.values() if all(r["stages"].get(s, {}).get("ok") for s in ("trains", "learns")))
        write_results(args.results, "vlm-coverage", started,
                      tables={"vlm-coverage": Table(["family", *STAGES, "why not"], rows)},
                      notes=[f"{learned} of {len(results)} image-text-to-text model_types train and learn."],
                      figures={"families": results})
    print(text)


if __name__ == "__main__":
    main()
