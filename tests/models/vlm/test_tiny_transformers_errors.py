"""Named errors in transformers itself at our pin (5.23), each the coverage table's reason for a
family (docs/VLM_COVERAGE.md), reproduced with plain transformers and no DeepSynth code. A test
here failing means transformers no longer raises it: the family's reason no longer holds."""

from __future__ import annotations

import pytest
from PIL import Image


def test_fuyus_pil_image_processor_cannot_patchify_the_tensor_its_processor_hands_it():
    """FuyuProcessor passes the image processor's torch tensor to FuyuImageProcessorPil.patchify_image,
    which calls numpy's transpose(0, 1, 3, 2, 4) on it (image_processing_pil_fuyu.py:288); the only
    other Fuyu image processor is torchvision-backed, so no page reaches a Fuyu model here."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import FuyuImageProcessorPil, FuyuProcessor, PreTrainedTokenizerFast

    vocabulary = {token: i for i, token in enumerate(["<unk>", "|SPEAKER|", "|NEWLINE|", "<s>", "</s>", "Read", "."])}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    processor = FuyuProcessor(image_processor=FuyuImageProcessorPil(), tokenizer=tokenizer)
    with pytest.raises(TypeError, match=r"transpose\(\) takes 2 positional arguments but 5 were given"):
        processor(text="Read .", images=Image.new("RGB", (200, 260), "white"), return_tensors="pt")
