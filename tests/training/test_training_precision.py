"""Training precision: bfloat16 autocast only where the CPU has it natively, recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lidnet_tiny import TINY

from training.field_augment import FieldBank
from training.lidnet_train import LabelledAudio, LidnetTrainConfig, fit_lidnet
from training.precision import cpu_flags, resolve_precision


def test_auto_picks_bf16_only_with_native_cpu_support():
    assert resolve_precision("auto", frozenset({"avx2", "avx512f"})) == "fp32"
    assert resolve_precision("auto", frozenset({"avx512f", "avx512_bf16"})) == "bf16"
    assert resolve_precision("auto", frozenset({"amx_bf16"})) == "bf16"
    # an explicit choice is kept whatever the CPU
    assert resolve_precision("fp32", frozenset({"amx_bf16"})) == "fp32"
    assert resolve_precision("bf16", frozenset()) == "bf16"


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == frozenset({"fpu", "sse2", "avx512_bf16"})
    assert cpu_flags(tmp_path / "absent") == frozenset()


def test_unknown_precision_is_refused_by_the_config():
    with pytest.raises(ValueError, match="precision"):
        LidnetTrainConfig(precision="fp16")  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_runs_in_either_precision_and_records_it(precision):
    import torch

    torch.manual_seed(0)
    waves = [np.asarray(0.1 * torch.randn(8000)) for _ in range(6)]
    data = LabelledAudio(waves=waves, y=np.array([0, 1] * 3), meta=pd.DataFrame())
    config = LidnetTrainConfig(
        model=TINY, mini=None, epochs=2, batch_size=3, crop_s=0.3, precision=precision
    )
    result = fit_lidnet(data, data, ["da", "sv"], config, bank=FieldBank())
    assert result.config.precision == precision
    losses = [row["train_loss"] for row in result.history]
    assert losses and all(np.isfinite(losses))
    # the weights stay float32 (autocast casts only the operands)
    assert all(p.dtype == torch.float32 for p in result.backbone.parameters())
