"""Tiny random-weight diffusers pipelines of every family, built in code (no downloads), for CPU tests.

Each builder returns a pipeline whose components are a few kilobytes: small transformer, VAE and text
encoder configs, and tokenizers made in memory. `save_tiny(name, folder)` writes one with
`save_pretrained`, so tests load it through the same `from_pretrained` path real checkpoints use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tale_cli.backends.base import ShotRequest
from tale_cli.config import ImageConfig, Recipe, VideoConfig
from tale_cli.executors.processes import NullJournal
from tale_cli.story.plan import Plan, Shot

_WORDS = [
    f"▁{w}"
    for w in [
        "a",
        "an",
        "the",
        "cat",
        "dog",
        "girl",
        "boy",
        "fox",
        "sun",
        "moon",
        "sea",
        "wind",
        "walks",
        "runs",
        "in",
        "at",
        "of",
        "on",
    ]
]
_LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789.,")


def t5_tokenizer() -> Any:
    from transformers import T5Tokenizer

    pieces = ["<pad>", "</s>", "<unk>", "▁", *_WORDS, *_LETTERS]
    return T5Tokenizer(vocab=[(piece, 0.0 if i < 3 else -float(i)) for i, piece in enumerate(pieces)], extra_ids=0)


def t5_encoder(vocab_size: int, *, umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    settings = {
        "vocab_size": vocab_size,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 37,
        "num_layers": 1,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "decoder_start_token_id": 0,
    }
    if umt5:
        return UMT5EncoderModel(UMT5Config(**settings))
    return T5EncoderModel(T5Config(**settings))


def clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in _LETTERS:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def clip_text_encoder(vocab_size: int, *, projection: bool = False, hidden: int = 32) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=hidden,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def llama_tokenizer() -> Any:
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3}
    for piece in [*_WORDS, *_LETTERS, "<", ">", "|", "_", "\n", ":"]:
        vocab.setdefault(piece, len(vocab))
    tokenizer = LlamaTokenizer(vocab=vocab, merges=[])
    tokenizer.pad_token = "</s>"
    return tokenizer


def cogvideox(*, image_to_video: bool = False) -> Any:
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4,
        attention_head_dim=8,
        in_channels=8 if image_to_video else 4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        num_layers=2,
        sample_width=4,
        sample_height=4,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
    )
    vae = AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    cls = CogVideoXImageToVideoPipeline if image_to_video else CogVideoXPipeline
    return cls(
        tokenizer=tokenizer,
        text_encoder=t5_encoder(len(tokenizer)),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(),
    )


def _wan_vae(*, ti2v: bool = False) -> Any:
    from diffusers import AutoencoderKLWan

    if ti2v:
        return AutoencoderKLWan(
            base_dim=8,
            decoder_base_dim=8,
            z_dim=48,
            in_channels=12,
            out_channels=12,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
            is_residual=True,
            patch_size=2,
            scale_factor_spatial=16,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
        )
    return AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )


def _wan_transformer(
    *, in_channels: int, out_channels: int, image_dim: int | None = None, pos_embed_seq_len: int | None = None
) -> Any:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        image_dim=image_dim,
        pos_embed_seq_len=pos_embed_seq_len,
    )


def wan(*, variant: str = "t2v") -> Any:
    """Wan 2.1 text-to-video (`t2v`), image-to-video with a CLIP image encoder (`i2v`), first-and-last-frame
    (`flf2v`: the image embedder has positions for two images), 2.2 TI2V-5B (`ti2v`) or 2.2 A14B (`a14b`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanPipeline

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = t5_encoder(len(tokenizer), umt5=True)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    if variant == "ti2v":
        return WanPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=_wan_vae(ti2v=True),
            scheduler=scheduler,
            transformer=_wan_transformer(in_channels=48, out_channels=48),
            expand_timesteps=True,
        )
    if variant in ("i2v", "flf2v"):
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        image_encoder = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=4,
                projection_dim=4,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=16,
                intermediate_size=16,
                patch_size=4,
            )
        )
        return WanImageToVideoPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=_wan_vae(),
            scheduler=scheduler,
            image_processor=CLIPImageProcessor(crop_size=16, size=16),
            image_encoder=image_encoder,
            transformer=_wan_transformer(
                in_channels=36, out_channels=16, image_dim=4, pos_embed_seq_len=34 if variant == "flf2v" else None
            ),
        )
    if variant == "a14b":  # Wan 2.2 A14B: a high-noise and a low-noise expert, switched at the boundary
        return WanPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=_wan_vae(),
            scheduler=scheduler,
            transformer=_wan_transformer(in_channels=16, out_channels=16),
            transformer_2=_wan_transformer(in_channels=16, out_channels=16),
            boundary_ratio=0.875,
        )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=_wan_vae(),
        scheduler=scheduler,
        transformer=_wan_transformer(in_channels=16, out_channels=16),
    )


def hunyuanvideo() -> Any:
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import LlamaConfig, LlamaModel

    tokenizer = llama_tokenizer()
    tokenizer_2 = clip_tokenizer()
    torch.manual_seed(0)
    text_encoder = LlamaModel(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            pad_token_id=2,
        )
    )
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4),
    )
    vae = AutoencoderKLHunyuanVideo(
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    return HunyuanVideoPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=clip_text_encoder(len(tokenizer_2), hidden=8),
        tokenizer_2=tokenizer_2,
    )


def ltx() -> Any:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=t5_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        transformer=transformer,
    )


def _ltx_condition() -> Any:
    """LTX-Video 0.9.5+ as it is published: the same components behind LTXConditionPipeline."""
    from diffusers import LTXConditionPipeline

    return LTXConditionPipeline(**ltx().components)


def gemma_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    for piece in [*_WORDS, *_LETTERS]:
        vocab.setdefault(piece, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=[])


def gemma3_encoder(vocab_size: int) -> Any:
    """Gemma 3 as LTX-2 uses it (the conditional-generation model, vision tower and all), two tiny layers."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    text = Gemma3TextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=1024, sliding_window=64,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )  # fmt: skip
    vision = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16, patch_size=8
    )
    config = Gemma3Config(
        text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4,
        image_token_index=vocab_size, boi_token_index=vocab_size + 1, eoi_token_index=vocab_size + 2,
    )  # fmt: skip
    return Gemma3ForConditionalGeneration(config)


def ltx2() -> Any:
    """LTX-2.0's layout: video and audio transformer, video VAE, audio VAE, a vocoder that makes 24 kHz stereo,
    Gemma 3 and the text connectors; the VAEs compress 2x (the real ones 32x in space, 8x in time)."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    tokenizer = gemma_tokenizer()
    torch.manual_seed(0)
    text_encoder = gemma3_encoder(len(tokenizer))
    text = text_encoder.config.text_config
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, caption_channels=text.hidden_size,
        rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    connectors = LTX2TextConnectors(
        caption_channels=text.hidden_size, text_proj_in_factor=text.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, in_channels=2, resolution=32,
        latent_channels=2, sample_rate=16000, mel_hop_length=160, mel_bins=8,
    )  # fmt: skip
    # 100 mel frames a second (16 kHz, hop 160) times 240 samples a frame: 24 kHz, as the real vocoder makes.
    vocoder = LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[20, 12, 8],
        upsample_factors=[10, 6, 4], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], output_sampling_rate=24000,
    )  # fmt: skip
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
        tokenizer=tokenizer, connectors=connectors, transformer=transformer, vocoder=vocoder,
    )  # fmt: skip


def sdxl() -> Any:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=128,
    )
    tokenizer = clip_tokenizer()
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=clip_text_encoder(len(tokenizer)),
        text_encoder_2=clip_text_encoder(len(tokenizer), projection=True),
        tokenizer=tokenizer,
        tokenizer_2=clip_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(),
    )


def flux() -> Any:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    tokenizer = clip_tokenizer()
    tokenizer_2 = t5_tokenizer()
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip_text_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        text_encoder_2=t5_encoder(len(tokenizer_2)),
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


BUILDERS = {
    "cogvideox": cogvideox,
    "cogvideox-i2v": lambda: cogvideox(image_to_video=True),
    "wan": wan,
    "wan-i2v": lambda: wan(variant="i2v"),
    "wan-flf2v": lambda: wan(variant="flf2v"),
    "wan-ti2v": lambda: wan(variant="ti2v"),
    "wan-a14b": lambda: wan(variant="a14b"),
    "hunyuanvideo": hunyuanvideo,
    "ltx": ltx,
    "ltx-condition": lambda: _ltx_condition(),
    "ltx2": ltx2,
    "sdxl": sdxl,
    "flux": flux,
}


def save_tiny_lora(family: str, folder: Path, *, seed: int = 1, name: str = "tiny-lora.safetensors") -> Path:
    """A random rank-4 LoRA (peft) for the tiny `family` ("wan" or "ltx") transformer, saved the way diffusers'
    trainers save one, so it loads through `load_lora_weights` like a real LoRA."""
    from diffusers import LTXPipeline, WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    if family == "wan":
        transformer, cls = _wan_transformer(in_channels=16, out_channels=16), WanPipeline
    else:
        transformer, cls = ltx().transformer, LTXPipeline
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    folder.mkdir(parents=True, exist_ok=True)
    cls.save_lora_weights(str(folder), transformer_lora_layers=get_peft_model_state_dict(transformer), weight_name=name)
    return folder / name


def save_tiny(name: str, folder: Path) -> Path:
    """Build the tiny pipeline `name` and save it (weights, configs, tokenizers) under `folder`."""
    pipeline = BUILDERS[name]()
    pipeline.save_pretrained(str(folder))
    return folder


# Tale-side helpers: a recipe and a shot request sized for the tiny pipelines (32x32, 9 frames at 8 fps).

NATIVE = {"native_width": 32, "native_height": 32, "native_frames": 9, "native_fps": 8}


def local_recipe(
    model: Path | str, *, options: dict[str, Any] | None = None, image: Path | None = None, **video: Any
) -> Recipe:
    return Recipe(
        name="tiny-local",
        width=96,
        height=64,
        fps=8,
        shots=1,
        seconds=1.0,
        image=ImageConfig(backend="diffusers", model=str(image), size="32x32", steps=2) if image else ImageConfig(),
        video=VideoConfig(
            backend="diffusers", model=str(model), options={**NATIVE, **(options or {})}, **{"steps": 2, **video}
        ),
    )


def shot_request(tmp_path: Path, *, duration: float = 1.0, **extra: Any) -> ShotRequest:
    shot = Shot(index=1, duration_s=duration, prompt="a fox runs on the sea")
    plan = Plan(title="Tiny", slug="tiny", width=96, height=64, fps=8, shots=[shot])
    return ShotRequest(
        plan=plan, shot=shot, prompt=shot.prompt, negative_prompt="blurry", width=96, height=64, fps=8,
        duration_s=duration, seed=3, output=tmp_path / "shot.mp4.part", journal=NullJournal(), **extra,
    )  # fmt: skip
