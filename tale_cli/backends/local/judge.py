"""The local judge: an open-vocabulary detector finds each character in a shot's frames from its description (OWLv2),
an image–text embedder (SigLIP 2, or CLIP) embeds the crops and the references and scores the prompt's fidelity.
An entity (a prop, wardrobe, a place) is found and embedded as a character is (a place is the whole frame), and its
likeness to its reference is the mean of the embeddings' and of the colours' (tale_cli.media.colours).

Weights are pulled once (`tale models pull`); everything runs on this machine, on the GPU when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tale_cli.backends.base import (
    CharacterVerdict,
    JudgeBackend,
    JudgeCapabilities,
    JudgeEntity,
    JudgeRequest,
    TakeVerdict,
)
from tale_cli.keys.seal import clear_path

if TYPE_CHECKING:
    from tale_cli.config import Recipe

from tale_cli.backends.models import judge_models

MAX_FRAMES = 16
# OWLv2 pads a frame to a square with this grey before resizing it (its image processor's own padding).
PAD_GREY = 0.5
# CLIPScore's weight: 2.5 × cosine puts a CLIP image–text match near 1 (SigLIP's own sigmoid needs no weight).
CLIP_SCORE_WEIGHT = 2.5
# How an entity's likeness to its reference is measured; a change here judges the shots with entities again.
ENTITY_MEASURE = "embedding+colour/1"


class LocalJudge(JudgeBackend):
    """OWLv2 crops, SigLIP 2 embeddings: cross (crop vs reference), embeddings for self, image–text fidelity."""

    name = "local"

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.detector_id, self.embedder_id = judge_models(recipe)
        self.model = f"{self.detector_id} + {self.embedder_id}"
        self.threshold = recipe.judge.detect_threshold
        self._models: dict[str, Any] = {}
        self._references: dict[Path, Any] = {}
        self._colours: dict[tuple[Path, bool], Any] = {}

    def capabilities(self) -> JudgeCapabilities:
        return JudgeCapabilities(embeddings=True, max_frames=MAX_FRAMES)

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.name, "detector": self.detector_id, "embedder": self.embedder_id,
                "threshold": self.threshold}  # fmt: skip

    def entity_fingerprint(self) -> dict[str, Any]:
        from tale_cli.media import colours

        return {"measure": ENTITY_MEASURE, "levels": colours.LEVELS, "windows": list(colours.WINDOWS)}

    def preflight(self) -> None:
        from tale_cli.backends.models import resolve_model
        from tale_cli.errors import missing_extra
        from tale_cli.registry import extra_installed

        if not extra_installed("local"):
            raise missing_extra("local", "torch and transformers")
        for model in (self.detector_id, self.embedder_id):
            resolve_model(model)

    def load(self) -> None:
        if self._models:
            return
        import torch
        from transformers import AutoModel, AutoModelForZeroShotObjectDetection, AutoProcessor
        from transformers.utils import logging as transformers_logging

        from tale_cli.backends.models import resolve_model

        # Its notices (an image processor falling back to PIL without torchvision) are not the user's business.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()  # two small models load in a blink; Tale says what it is doing

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if device == "cuda" else torch.float32
        detector_folder, embedder_folder = resolve_model(self.detector_id), resolve_model(self.embedder_id)
        self._models = {
            "torch": torch,
            "device": device,
            "dtype": dtype,
            "detector": AutoModelForZeroShotObjectDetection.from_pretrained(detector_folder, dtype=dtype)
            .to(device)
            .eval(),
            "detector_processor": AutoProcessor.from_pretrained(detector_folder),
            "embedder": AutoModel.from_pretrained(embedder_folder, dtype=dtype).to(device).eval(),
            "embedder_processor": AutoProcessor.from_pretrained(embedder_folder),
        }

    def close(self) -> None:
        self._models = {}
        self._references = {}
        self._colours = {}

    # ------------------------------------------------------------------ the models

    def _detector_pixels(self, frames: list[Any]) -> Any:
        """Frames as OWLv2 sees them: padded to a square with grey at the bottom and right, resized, normalised."""
        import numpy as np

        torch = self._models["torch"]
        processor = self._models["detector_processor"].image_processor
        size = processor.size["height"]
        mean = np.asarray(processor.image_mean, dtype=np.float32)
        std = np.asarray(processor.image_std, dtype=np.float32)
        from PIL import Image

        batch = []
        for frame in frames:
            side = max(frame.size)
            square = np.full((side, side, 3), PAD_GREY, dtype=np.float32)
            square[: frame.height, : frame.width] = np.asarray(frame, dtype=np.float32) / 255.0
            resized = Image.fromarray((square * 255).round().astype(np.uint8)).resize(
                (size, size), Image.Resampling.BILINEAR
            )
            batch.append(((np.asarray(resized, dtype=np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
        return torch.from_numpy(np.stack(batch)).to(self._models["device"], self._models["dtype"])

    def _detect(self, frames: list[Any], queries: list[str]) -> list[list[tuple[float, tuple[int, int, int, int]]]]:
        """For each frame, each query's best box (score, (left, top, right, bottom)) in the frame's pixels."""
        torch = self._models["torch"]
        model = self._models["detector"]
        tokenizer = self._models["detector_processor"].tokenizer
        length = model.config.text_config.max_position_embeddings
        text = tokenizer(queries, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        ids = text["input_ids"].repeat(len(frames), 1).to(self._models["device"])
        mask = text["attention_mask"].repeat(len(frames), 1).to(self._models["device"])
        with torch.inference_mode():
            out = model(input_ids=ids, attention_mask=mask, pixel_values=self._detector_pixels(frames))
        scores = torch.sigmoid(out.logits.float()).cpu().numpy()  # (frames, patches, queries)
        boxes = out.pred_boxes.float().cpu().numpy()  # (frames, patches, 4): centre x, y, width, height of the square
        found: list[list[tuple[float, tuple[int, int, int, int]]]] = []
        for number, frame in enumerate(frames):
            side = max(frame.size)
            best = []
            for query in range(len(queries)):
                patch = int(scores[number, :, query].argmax())
                cx, cy, w, h = (float(v) * side for v in boxes[number, patch])
                left, top = max(0, int(cx - w / 2)), max(0, int(cy - h / 2))
                right, bottom = min(frame.width, int(cx + w / 2) + 1), min(frame.height, int(cy + h / 2) + 1)
                best.append((float(scores[number, patch, query]), (left, top, right, bottom)))
            found.append(best)
        return found

    def _embed_images(self, images: list[Any]) -> Any:
        torch = self._models["torch"]
        processor = self._models["embedder_processor"]
        inputs = processor(images=images, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self._models["device"], self._models["dtype"])
        with torch.inference_mode():
            out = self._models["embedder"].get_image_features(pixel_values=pixels)
        features = getattr(out, "pooler_output", out).float()
        return torch.nn.functional.normalize(features, dim=-1).cpu()

    def _embed_text(self, text: str) -> Any:
        torch = self._models["torch"]
        model = self._models["embedder"]
        tokenizer = self._models["embedder_processor"].tokenizer
        length = model.config.text_config.max_position_embeddings
        tokens = tokenizer([text], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            out = model.get_text_features(input_ids=tokens["input_ids"].to(self._models["device"]))
        features = getattr(out, "pooler_output", out).float()
        return torch.nn.functional.normalize(features, dim=-1).cpu()

    def _fidelity(self, similarity: Any) -> float:
        """Image–text cosines as 0–1: SigLIP's own match probability, or CLIPScore (2.5 × cosine) for CLIP."""
        torch = self._models["torch"]
        model = self._models["embedder"]
        bias = getattr(model, "logit_bias", None)
        if bias is not None:
            scale = model.logit_scale.exp().float().cpu()
            return float(torch.sigmoid(similarity * scale + bias.float().cpu()).mean())
        return float((similarity * CLIP_SCORE_WEIGHT).clamp(0, 1).mean())

    def _reference(self, path: Path) -> Any:
        if path not in self._references:
            from PIL import Image

            with clear_path(path) as readable, Image.open(readable) as picture:
                self._references[path] = self._embed_images([picture.convert("RGB")])[0]
        return self._references[path]

    def judge(self, request: JudgeRequest) -> TakeVerdict:
        from PIL import Image

        self.load()
        frames = []
        for path in request.frames:
            with clear_path(path) as readable, Image.open(readable) as picture:
                frames.append(picture.convert("RGB"))
        verdict = TakeVerdict(model=self.model)
        if not frames:
            verdict.notes.append("no frame to judge")
            return verdict
        frame_features = self._embed_images(frames)
        similarity = frame_features @ self._embed_text(request.prompt).T
        verdict.prompt = round(self._fidelity(similarity[:, 0]), 4)
        located = [e for e in request.entities if e.kind != "place"]  # a place is the whole frame
        queries = [f"a photo of {c.description or c.name}" for c in request.characters]
        queries += [f"a photo of {e.description or e.name}" for e in located]
        detections = self._detect(frames, queries) if queries else []
        for number, character in enumerate(request.characters):
            crops = self._crops(frames, detections, number)
            if not crops:
                verdict.characters[character.id] = CharacterVerdict(found=False)
                continue
            features = self._embed_images(crops)
            cross = None
            if character.reference is not None:
                cross = round(float((features @ self._reference(character.reference)).clamp(0, 1).mean()), 4)
            verdict.characters[character.id] = CharacterVerdict(found=True, cross=cross, embedding=_mean(features))
        for entity in request.entities:
            if entity.kind == "place":
                crops = frames
            else:
                crops = self._crops(frames, detections, len(request.characters) + located.index(entity))
            verdict.entities[entity.id] = self._entity(entity, frames, crops)
        return verdict

    def _crops(self, frames: list[Any], detections: list[Any], number: int) -> list[Any]:
        """Query `number`'s best box in each frame where the detector is sure enough of it."""
        return [
            frames[f].crop(box)
            for f, found in enumerate(detections)
            if (score_box := found[number])[0] >= self.threshold
            and (box := score_box[1])[2] - box[0] > 1
            and box[3] - box[1] > 1
        ]

    def _entity(self, entity: JudgeEntity, frames: list[Any], crops: list[Any]) -> CharacterVerdict:
        """An entity's verdict: found where detected, and alike to its reference by the mean of its crops'
        embeddings' and of the colours of the frames' best windows (the whole frame for a place)."""
        if not crops:
            return CharacterVerdict(found=False)
        features = self._embed_images(crops)
        cross = None
        if entity.reference is not None:
            from tale_cli.media.colours import colour_match

            looks = float((features @ self._reference(entity.reference)).clamp(0, 1).mean())
            whole = entity.kind == "place"
            palette = self._palette(entity.reference, whole=whole)
            colours = sum(colour_match(frame, palette, whole=whole) for frame in frames) / len(frames)
            cross = round((looks + colours) / 2, 4)
        return CharacterVerdict(found=True, cross=cross, embedding=_mean(features))

    def _palette(self, path: Path, *, whole: bool) -> Any:
        if (path, whole) not in self._colours:
            from PIL import Image

            from tale_cli.media.colours import reference_colours

            with clear_path(path) as readable, Image.open(readable) as picture:
                self._colours[(path, whole)] = reference_colours(picture, keep_backdrop=whole)
        return self._colours[(path, whole)]


def _mean(features: Any) -> list[float]:
    """The crops' mean embedding, normalised, as the verdict keeps it."""
    mean = features.mean(dim=0)
    mean = mean / mean.norm().clamp_min(1e-12)
    return [round(float(v), 5) for v in mean]
