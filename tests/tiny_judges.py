"""Tiny random-weight judge models built in code: an OWLv2 detector and a CLIP embedder, tokenizers in memory, saved
with save_pretrained and loaded by the local judge through the same from_pretrained path real weights take."""

from __future__ import annotations

import string
from pathlib import Path


def _tokenizer():  # type: ignore[no-untyped-def]
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16), len(vocab)


def _parts(vocab_size: int, image_size: int, patch_size: int) -> tuple[dict, dict]:
    text = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}  # fmt: skip
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": image_size, "patch_size": patch_size}  # fmt: skip
    return text, vision


def save_detector(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    tokenizer, size = _tokenizer()
    text, vision = _parts(size, 64, 16)
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)).eval()
    # Random heads saturate: boxes at the image's edge, scores of 0. With their last layers zeroed, each patch's box
    # is its grid cell (the model's own box bias) and scores spread around 0.5, so there are crops to embed.
    with torch.no_grad():
        for layer in (model.box_head.dense2, model.class_head.logit_shift, model.class_head.logit_scale):
            layer.weight.zero_()
            layer.bias.zero_()
    model.save_pretrained(folder)
    Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer
    ).save_pretrained(folder)
    return folder


def save_embedder(folder: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer, size = _tokenizer()
    text, vision = _parts(size, 32, 8)
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)).eval()
    model.save_pretrained(folder)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def judge_recipe_lines(detector: Path, embedder: Path, **settings: object) -> str:
    """A [judge] section for a test recipe that uses these folders."""
    lines = ["[judge]", 'backend = "local"', f'detector = "{detector}"', f'embedder = "{embedder}"']
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in settings.items()]
    return "\n".join(lines) + "\n"
