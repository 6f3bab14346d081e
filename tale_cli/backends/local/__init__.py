"""This machine, no key and no GPU needed, each provider declared once: preview (the offline animatic), espeak (eSpeak
NG voices), supertonic (a neural voice on ONNX Runtime) and local (the planner and the judge through transformers)."""

from __future__ import annotations

from tale_cli.backends.local.espeak import MODEL as ESPEAK_MODEL
from tale_cli.backends.local.espeak import EspeakVoice
from tale_cli.backends.local.judge import LocalJudge
from tale_cli.backends.local.preview import MODEL as PREVIEW_MODEL
from tale_cli.backends.local.preview import PreviewImage, PreviewVideo
from tale_cli.backends.local.supertonic import DEFAULT_MODEL as SUPERTONIC_MODEL
from tale_cli.backends.local.supertonic import SupertonicVoice
from tale_cli.backends.models import DEFAULT_DETECTOR, DEFAULT_EMBEDDER
from tale_cli.registry import Locality, Pricing, Provider, Role

PROVIDERS = (
    Provider(
        "preview",
        "offline animatic: storyboard stills with camera moves and captions, no key, no GPU",
        {Role.VIDEO: PreviewVideo, Role.IMAGE: PreviewImage},
        Locality.LOCAL,
        Pricing.FREE,
        models=(PREVIEW_MODEL,),
    ),
    Provider(
        "espeak",
        "eSpeak NG: offline formant voices in about a hundred languages, Korean included (a scratch narration)",
        {Role.VOICE: EspeakVoice},
        Locality.LOCAL,
        Pricing.FREE,
        models=(ESPEAK_MODEL,),
    ),
    Provider(
        "supertonic",
        "Supertonic 3: a neural voice on this machine (ONNX Runtime, CPU) in 31 languages, Korean and English among them",
        {Role.VOICE: SupertonicVoice},
        Locality.LOCAL,
        Pricing.FREE,
        extra="voice-local",
        models=(SUPERTONIC_MODEL,),
        needs_weights=True,
    ),
    Provider(
        "local",
        "this machine through transformers: the planner (Qwen 2.5, Llama 3.1) and the judge (OWLv2, SigLIP 2); "
        "weights pulled once",
        {Role.JUDGE: LocalJudge, Role.PLANNER: "tale_cli.planners.local:plan_story"},
        Locality.LOCAL,
        Pricing.FREE,
        extra="local",
        models=(DEFAULT_DETECTOR, DEFAULT_EMBEDDER),
        needs_weights=True,
    ),
)

__all__ = ["PROVIDERS"]
