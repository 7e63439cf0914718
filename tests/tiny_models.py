"""Tiny random-weight stand-ins for every model the GPU engines (diffusion, catvton) load from `models/`.

There is no model hub here, so tests build each component from a small config, `save_pretrained`
it into a temporary models folder laid out exactly as models/README.md asks, and let the engine
load it through its real loader. Geometry is kept real where it matters for speed and shapes:
the VAE has 4 blocks (scale factor 8, like SDXL) and the ControlNet's conditioning embedding has
4 stages (also /8), so an output_size of 128 px means 16x16 latents.

    build_tiny_models(models_dir)            # sdxl-inpainting + controlnet-openpose-sdxl + segformer
    build_tiny_models(models_dir, segformer=False)
    build_tiny_catvton_models(models_dir)    # stable-diffusion-inpainting + sd-vae-ft-mse + catvton
"""

from __future__ import annotations

import json
from pathlib import Path

# The label set of mattmattmattmatt/segformer_b2_clothes, which the engine reads by name.
SEGFORMER_CLOTHES_LABELS: dict[int, str] = {
    0: "Background", 1: "Hat", 2: "Hair", 3: "Sunglasses", 4: "Upper-clothes", 5: "Skirt",
    6: "Pants", 7: "Dress", 8: "Belt", 9: "Left-shoe", 10: "Right-shoe", 11: "Face",
    12: "Left-leg", 13: "Right-leg", 14: "Left-arm", 15: "Right-arm", 16: "Bag", 17: "Scarf",
}

_TEXT_HIDDEN = 32  # both tiny CLIP text encoders; SDXL's cross_attention_dim is their sum
_TIME_EMBED = 8  # addition_time_embed_dim: SDXL passes 6 time ids, so 6 * 8 + projection_dim
# The down path both the tiny UNet and its ControlNet are built with: the ControlNet's residuals
# must match the UNet's blocks one for one, so they share one definition.
_UNET_GEOMETRY: dict = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    attention_head_dim=(2, 4),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=_TIME_EMBED,
    transformer_layers_per_block=(1, 1),
    projection_class_embeddings_input_dim=6 * _TIME_EMBED + _TEXT_HIDDEN,
    cross_attention_dim=2 * _TEXT_HIDDEN,
    norm_num_groups=32,
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


# words the engine's prompts use: whole-word merges keep a prompt well under CLIP's 77 tokens
_PROMPT_WORDS = (
    "a photo of person wearing the shown top trousers or skirt dress natural fit realistic fabric folds "
    "and shading sharp details deformed distorted disfigured bad anatomy extra limbs fingers blurry "
    "lowres low quality jpeg artifacts watermark text logo overlay"
).split()


def _word_merges(words: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """Left-to-right BPE merges that build each word (ending in "</w>") from its characters."""
    merges: list[tuple[str, str]] = []
    for word in words:
        if len(word) < 2:
            continue
        left = word[0]
        for i, ch in enumerate(word[1:], start=1):
            right = ch + "</w>" if i == len(word) - 1 else ch
            if (left, right) not in merges:
                merges.append((left, right))
            left = left + right
    return merges


def write_tiny_clip_tokenizer(folder: Path, *, pad_token: str = "<|endoftext|>", max_length: int = 77) -> None:
    """A CLIP BPE tokenizer that can encode any text: every byte character (alone and as a word
    end) is in the vocabulary, plus whole-word merges for the words the engine's prompts use."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    merges = _word_merges(_PROMPT_WORDS)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    vocab_file = folder / "vocab.json"
    merges_file = folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token=pad_token, model_max_length=max_length)
    tokenizer.save_pretrained(folder)


def vocab_size(folder: Path) -> int:
    return len(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))


def build_tiny_sdxl_inpainting(folder: Path) -> None:
    """A diffusers SDXL inpainting pipeline folder (model_index.json + components)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    tok_dir = folder.parent / (folder.name + "-tokenizers")
    write_tiny_clip_tokenizer(tok_dir / "tokenizer")
    write_tiny_clip_tokenizer(tok_dir / "tokenizer_2", pad_token="!")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir / "tokenizer", local_files_only=True)
    tokenizer_2 = CLIPTokenizer.from_pretrained(tok_dir / "tokenizer_2", local_files_only=True)
    n_vocab = vocab_size(tok_dir / "tokenizer")

    text_config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0,
        eos_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 2,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 1,
        hidden_size=_TEXT_HIDDEN,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=n_vocab,
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=_TEXT_HIDDEN,
    )
    text_encoder = CLIPTextModel(text_config)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)

    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=9,  # noisy latents 4 + mask 1 + masked-image latents 4, like SDXL inpainting
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        **_UNET_GEOMETRY,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=128,
        scaling_factor=0.13025,  # SDXL's
        force_upcast=True,  # like the published SDXL VAE: the engine must handle it
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_tiny_controlnet(folder: Path) -> None:
    """A diffusers ControlNetModel that fits the tiny SDXL UNet, conditioning embedding /8."""
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(1)
    controlnet = ControlNetModel(
        in_channels=4,
        conditioning_embedding_out_channels=(8, 8, 16, 16),  # 4 stages: 3 stride-2 convs = /8
        **_UNET_GEOMETRY,
    )
    controlnet.save_pretrained(folder, safe_serialization=True)


def build_tiny_segformer(folder: Path) -> None:
    """A SegformerForSemanticSegmentation with the clothes label set, plus its image processor."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(2)
    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=4,
        depths=[1, 1, 1, 1],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[8, 16, 16, 16],
        num_attention_heads=[1, 1, 1, 1],
        decoder_hidden_size=16,
        num_labels=len(SEGFORMER_CLOTHES_LABELS),
        id2label={i: n for i, n in SEGFORMER_CLOTHES_LABELS.items()},
        label2id={n: i for i, n in SEGFORMER_CLOTHES_LABELS.items()},
    )
    model = SegformerForSemanticSegmentation(config)
    model.save_pretrained(folder, safe_serialization=True)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)


def build_tiny_models(models_dir: Path, *, segformer: bool = True, controlnet: bool = True) -> Path:
    """Fill `models_dir` the way models/README.md lays it out, with tiny random weights."""
    import shutil

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    build_tiny_sdxl_inpainting(models_dir / "sdxl-inpainting")
    shutil.rmtree(models_dir / "sdxl-inpainting-tokenizers", ignore_errors=True)
    if controlnet:
        build_tiny_controlnet(models_dir / "controlnet-openpose-sdxl")
    if segformer:
        build_tiny_segformer(models_dir / "segformer-b2-clothes")
    return models_dir


# --- CatVTON: SD 1.5 inpainting UNet, sd-vae-ft-mse, the positional attention file ---------------

# The inpainting repository's scheduler/scheduler_config.json: a PNDM config, which CatVTON
# (and our loader) read as DDIM
SD15_INPAINTING_SCHEDULER: dict = {
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None, "clip_sample": False,
}
SD_VAE_SCALING = 0.18215  # sd-vae-ft-mse's scaling_factor


def build_tiny_sd15_inpainting(folder: Path) -> None:
    """unet/ (9 input channels, SD 1.5's block kinds, cross-attention kept: CatVTON skips it,
    it does not remove it) and scheduler/ of a Stable Diffusion 1.5 inpainting folder."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(3)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=9,  # noisy latent 4 + mask 1 + masked-person/garment latent 4
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=8,
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_INPAINTING_SCHEDULER, indent=2))


def build_tiny_sd_vae(folder: Path) -> None:
    """An AutoencoderKL folder with sd-vae-ft-mse's layout: 4 blocks (/8) and its scaling factor."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(4)
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16), sample_size=256, scaling_factor=SD_VAE_SCALING,
    ).save_pretrained(folder, safe_serialization=True)


def reference_attention_state(unet) -> dict:
    """{key: Parameter} of the attention file CatVTON's training code writes for `unet`, built
    the way that code builds it, not from our loader's idea of it: every module whose name holds
    "attn1", in named_modules() order, in one ModuleList (its attention processors are nn.Modules
    there, so each is a submodule too); then its state dict, each shared tensor kept once under
    its first name (what accelerate does before writing safetensors). Works on the meta device.
    Sets module processors on `unet`: call it on a UNet you no longer run."""
    import torch

    class ModuleProcessor(torch.nn.Module):  # CatVTON's processors subclass nn.Module
        def __call__(self, attn, hidden_states, *args, **kwargs):  # never called here
            return hidden_states

    for name, module in unet.named_modules():
        if name.endswith(".attn1"):
            module.set_processor(ModuleProcessor())
    trainable = torch.nn.ModuleList([m for n, m in unet.named_modules() if "attn1" in n])
    state: dict = {}
    seen: set[int] = set()
    for key, value in trainable.state_dict(keep_vars=True).items():
        if id(value) not in seen:
            seen.add(id(value))
            state[key] = value
    return state


def write_catvton_attention(unet_folder: Path, path: Path, seed: int = 5) -> dict:
    """Write a CatVTON attention file for the UNet saved in `unet_folder`, in the published
    layout, with new random values (so a test can tell that they were loaded); returns them."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(unet_folder, local_files_only=True)
    generator = torch.Generator().manual_seed(seed)
    tensors = {key: torch.randn(tuple(p.shape), generator=generator) * 0.05
               for key, p in reference_attention_state(unet).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return tensors


def build_tiny_catvton_models(models_dir: Path, *, variant: str = "mix-48k-1024") -> Path:
    """Fill `models_dir` with the catvton engine's folders as models/README.md lays them out."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    build_tiny_sd15_inpainting(models_dir / "stable-diffusion-inpainting")
    build_tiny_sd_vae(models_dir / "sd-vae-ft-mse")
    write_catvton_attention(models_dir / "stable-diffusion-inpainting" / "unet",
                            models_dir / "catvton" / variant / "attention" / "model.safetensors")
    return models_dir


if __name__ == "__main__":  # python tests/tiny_models.py /tmp/tiny-models
    import sys

    print(build_tiny_models(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-models")))
