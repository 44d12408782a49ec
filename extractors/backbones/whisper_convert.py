"""CTranslate2 Whisper encoder weights → a transformers ``WhisperEncoder``.

The two runtimes must agree on the same weights: this rebuilds the encoder of a
CTranslate2 ``model.bin`` (read by :mod:`extractors.backbones.ct2_format`) as a
transformers module, so a test can feed one log-mel to both and compare the states — and
a user can get every encoder layer (``output_hidden_states``) of the packaged weights.
CTranslate2 fuses the query/key/value projections into one matrix (``linear_0``, rows in
q, k, v order; the key bias is zero because Whisper's key projection has none).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from extractors.backbones.ct2_format import read_ct2_model
from nordlid.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

_LAYER = re.compile(r"^encoder/layer_(\d+)/")


def _get(variables: dict[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    try:
        return variables[name]
    except KeyError:
        raise ConfigError(f"{path}: CTranslate2 Whisper model has no variable {name!r}") from None


def encoder_state_dict(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """(transformers ``WhisperEncoder`` state dict as float32 arrays, its config sizes)."""
    source = Path(path)
    model = read_ct2_model(source)
    if model.spec_name != "WhisperSpec":
        raise ConfigError(f"{source}: CTranslate2 spec {model.spec_name!r}, not WhisperSpec")
    v = model.variables

    def get(name: str) -> np.ndarray:
        return np.asarray(_get(v, name, source), dtype=np.float32)

    num_layers = 1 + max(int(m.group(1)) for k in v if (m := _LAYER.match(k)))
    conv1 = get("encoder/conv1/weight")
    d_model, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    state: dict[str, np.ndarray] = {
        "conv1.weight": conv1,
        "conv1.bias": get("encoder/conv1/bias"),
        "conv2.weight": get("encoder/conv2/weight"),
        "conv2.bias": get("encoder/conv2/bias"),
        "embed_positions.weight": get("encoder/position_encodings/encodings"),
        "layer_norm.weight": get("encoder/layer_norm/gamma"),
        "layer_norm.bias": get("encoder/layer_norm/beta"),
    }
    for i in range(num_layers):
        src, dst = f"encoder/layer_{i}", f"layers.{i}"
        qkv_w = get(f"{src}/self_attention/linear_0/weight")
        qkv_b = get(f"{src}/self_attention/linear_0/bias")
        q_w, k_w, v_w = np.split(qkv_w, 3, axis=0)
        q_b, _k_b, v_b = np.split(qkv_b, 3)
        state |= {
            f"{dst}.self_attn.q_proj.weight": q_w,
            f"{dst}.self_attn.q_proj.bias": q_b,
            f"{dst}.self_attn.k_proj.weight": k_w,
            f"{dst}.self_attn.v_proj.weight": v_w,
            f"{dst}.self_attn.v_proj.bias": v_b,
            f"{dst}.self_attn.out_proj.weight": get(f"{src}/self_attention/linear_1/weight"),
            f"{dst}.self_attn.out_proj.bias": get(f"{src}/self_attention/linear_1/bias"),
            f"{dst}.self_attn_layer_norm.weight": get(f"{src}/self_attention/layer_norm/gamma"),
            f"{dst}.self_attn_layer_norm.bias": get(f"{src}/self_attention/layer_norm/beta"),
            f"{dst}.fc1.weight": get(f"{src}/ffn/linear_0/weight"),
            f"{dst}.fc1.bias": get(f"{src}/ffn/linear_0/bias"),
            f"{dst}.fc2.weight": get(f"{src}/ffn/linear_1/weight"),
            f"{dst}.fc2.bias": get(f"{src}/ffn/linear_1/bias"),
            f"{dst}.final_layer_norm.weight": get(f"{src}/ffn/layer_norm/gamma"),
            f"{dst}.final_layer_norm.bias": get(f"{src}/ffn/layer_norm/beta"),
        }
    sizes = {
        "d_model": d_model,
        "num_mel_bins": n_mels,
        "encoder_layers": num_layers,
        "encoder_attention_heads": int(np.asarray(_get(v, "encoder/num_heads", source))),
        "encoder_ffn_dim": int(state["layers.0.fc1.weight"].shape[0]),
        "max_source_positions": int(state["embed_positions.weight"].shape[0]),
    }
    return state, sizes


def encoder_from_ct2(path: str | Path) -> WhisperEncoder:
    """A float32 transformers ``WhisperEncoder`` (eval mode) holding the CTranslate2 weights."""
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    state, sizes = encoder_state_dict(path)
    sizes_any: dict[str, Any] = dict(sizes)
    encoder = WhisperEncoder(WhisperConfig(**sizes_any))
    missing, unexpected = encoder.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in state.items()}, strict=False
    )
    if missing or unexpected:
        raise ConfigError(
            f"{path}: converted Whisper encoder does not match transformers' layout "
            f"(missing {missing}, unexpected {unexpected})"
        )
    return encoder.eval()


def encode_frames(encoder: WhisperEncoder, mel: torch.Tensor) -> list[torch.Tensor]:
    """Every hidden state (embeddings, then each layer, the last one layer-normed) of a
    log-mel ``(batch, n_mels, frames)`` of *any* length up to the window — transformers'
    own ``forward`` insists on exactly 3,000 frames; this is the same computation without
    that check, for comparing against CTranslate2's unpadded encoder."""
    import torch

    with torch.inference_mode():
        x = torch.nn.functional.gelu(encoder.conv1(mel))
        x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
        x = x + encoder.embed_positions.weight[: x.shape[1]]
        states = [x]
        for layer in encoder.layers:
            x = layer(x, attention_mask=None)
            x = x[0] if isinstance(x, tuple) else x
            states.append(x)
        states[-1] = encoder.layer_norm(x)
    return states
