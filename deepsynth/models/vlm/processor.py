"""A VLM folder's own processor, loaded without the parts DeepSynth never feeds (video, audio) when
their backend is missing.

transformers 5.23 builds a processor from all its sub-processors; Qwen2-VL's, Qwen2.5-VL's and
SmolVLM2's include a video processor that needs torchvision, which has no CPU-only wheel matching
the pinned torch here. DeepSynth reads page *images* only, so: `AutoProcessor` first; if that fails
with an ImportError, the same processor class is built from the sub-processors that load (the
image processor through `AutoImageProcessor`, which picks the PIL backend when torchvision is
missing; the tokenizer; the chat template from the processor files) with each video/audio part that
cannot load left out, and one line says which input is unavailable. An image processor or a
tokenizer that cannot load is still an error.

`load_processor` is self-contained (imports inside, no module globals): the standalone
`inference.py` of a VLM package carries its source verbatim (`deepsynth.export.vlm_inference_script`),
so exported adapters load their processor exactly as training did.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def load_processor(folder: str) -> Any:
    """The processor of the model folder `folder` (see the module docstring)."""
    import json
    import logging
    from pathlib import Path

    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name
    from transformers.processing_utils import MODALITY_TO_AUTOPROCESSOR_MAPPING

    try:
        return AutoProcessor.from_pretrained(folder, trust_remote_code=False)
    except ImportError as error:
        first_error = error
    # The class AutoProcessor chose: named in the processor files, else the model type's.
    root = Path(folder)
    class_name = None
    for file_name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = root / file_name
        if class_name is None and path.is_file():
            class_name = json.loads(path.read_text(encoding="utf-8")).get("processor_class")
    if class_name is None:
        model_type = json.loads((root / "config.json").read_text(encoding="utf-8")).get("model_type")
        class_name = PROCESSOR_MAPPING_NAMES.get(model_type)
    processor_class = processor_class_from_name(class_name) if class_name else None
    if processor_class is None:
        raise first_error
    processor_dict, init_kwargs = processor_class.get_processor_dict(folder)
    kept, parts, left_out = [], [], []
    for attribute in processor_class.get_attributes():
        loader = MODALITY_TO_AUTOPROCESSOR_MAPPING[attribute] if attribute in MODALITY_TO_AUTOPROCESSOR_MAPPING else None
        if loader is None:  # a secondary part (e.g. decoder_tokenizer): transformers' rules only
            raise first_error
        try:
            parts.append(loader.from_pretrained(folder, trust_remote_code=False))
            kept.append(attribute)
        except ImportError as error:
            if attribute in ("image_processor", "tokenizer"):  # what DeepSynth needs: no way round
                raise
            left_out.append((attribute, str(error).strip().split(". ")[0]))
            parts.append(None)
            processor_dict.pop(attribute, None)
    if not left_out or len(kept) + len(left_out) != len(parts):
        raise first_error  # something else failed
    # The same class listing only the parts that loaded. Its own __init__ takes every part (a
    # missing one as None, in its place); whether it hands them on by position (LLaVA-NeXT-Video's,
    # whose video part comes first) or by name (Gemma 4's), ProcessorMixin's __init__ is reached
    # through _WithoutLeftOut (next in the method order), which names each part and drops the
    # left-out ones before transformers checks them against the listed parts.
    from transformers.processing_utils import ProcessorMixin

    every_part = list(processor_class.get_attributes())

    class _WithoutLeftOut(ProcessorMixin):
        def __init__(self, *args, **kwargs) -> None:  # (no annotations: its source is copied verbatim)
            kwargs.update(zip(every_part, args))
            for attribute, _ in left_out:
                if kwargs.get(attribute, "kept") is None:
                    del kwargs[attribute]
            super().__init__(**kwargs)

    reduced = type(processor_class.__name__, (processor_class, _WithoutLeftOut), {
        "__module__": processor_class.__module__, "get_attributes": classmethod(lambda cls: list(kept))})
    try:
        processor = reduced.from_args_and_dict(parts, processor_dict, **init_kwargs)
    except AttributeError as error:  # its own __init__ reads a left-out part (MiniCPM-V 4.6's video part)
        if not any(attribute in str(error) for attribute, _ in left_out):
            raise
        raise first_error from None  # the part it cannot do without: the missing package's own error
    for attribute, reason in left_out:
        logging.getLogger("deepsynth.vlm").warning(
            "%s of %s: %s left out (%s); %s input is unavailable, page images are read as usual",
            processor_class.__name__, folder, attribute, reason, attribute.split("_")[0])
    return processor


PROCESSOR_FILE_SUFFIXES = (".json", ".jinja", ".txt", ".model")
"""Files of a model folder that describe its processor (configs, vocabularies, merges, chat
template, a SentencePiece model); never code."""
MODEL_FILES = ("config.json", "generation_config.json")
"""The model's own configs: written by save_pretrained beside merged weights, not copied."""


def copy_processor_files(source: Path, target: Path) -> list[str]:
    """Copy the processor's files of the model folder `source` into `target` as they are (a
    processor loaded without its video part would, saved again, lose that part's settings).
    Returns the names copied."""
    copied = []
    for path in sorted(source.iterdir()):
        if (path.is_file() and not path.is_symlink() and path.suffix in PROCESSOR_FILE_SUFFIXES
                and path.name not in MODEL_FILES and not path.name.endswith(".index.json")):
            shutil.copyfile(path, target / path.name)
            copied.append(path.name)
    return copied


class ProcessorFiles:
    """A VLM's processor, saved beside merged weights as its folder holds it (copied: one loaded
    without its video part, `load_processor`, would lose that part's settings if saved again)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        """The base model folder."""

    def save_pretrained(self, out: str) -> None:
        copy_processor_files(self.folder, Path(out))
