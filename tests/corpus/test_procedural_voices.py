"""Procedural espeak-ng variants: deterministic children of named variants that stay in their
parents' split, and an espeak-ng overlay that really uses them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus import voices
from corpus.procedural_voices import (
    DATA_DIR_NAME,
    crossover,
    draw_variants,
    overlay_data_dir,
    parse_variant,
    system_data_dir,
)
from corpus.render import espeak_binary
from nordlid.errors import ConfigError

PARENT_A = """language variant
// a comment
name a
gender male
pitch 80 120  // trailing comment
formant 0 100 100 100
formant 1 96 97 100
klatt 4
"""
PARENT_B = """language variant
name b
gender male
pitch 60 100
formant 0 90 80 120
formant 1 104 110 90
stressAdd 10 10 0 0 0 0 -30 -30
"""


def test_parse_variant_keeps_settings_and_drops_comments() -> None:
    got = parse_variant(PARENT_A)
    assert got["pitch"] == ["80", "120"]
    assert got["formant 1"] == ["96", "97", "100"]
    assert got["klatt"] == ["4"] and got["gender"] == ["male"]
    assert not any(k.startswith(("//", "#")) for k in got)


def test_crossover_takes_each_setting_from_a_parent_and_jitters_the_tract() -> None:
    a, b = parse_variant(PARENT_A), parse_variant(PARENT_B)
    texts = [crossover("c", a, b, np.random.default_rng(i)) for i in range(40)]
    assert texts == [crossover("c", a, b, np.random.default_rng(i)) for i in range(40)]
    assert len(set(texts)) == 40
    for text in texts:
        child = parse_variant(text)
        assert child["name"] == ["c"] and child["gender"] == ["male"]
        base = int(child["pitch"][0])
        assert 60 * 0.85 - 1 <= base <= 80 * 1.15 + 1
        for k in (0, 1):
            freq = int(child[f"formant {k}"][0])
            low = min(int(a[f"formant {k}"][0]), int(b[f"formant {k}"][0]))
            high = max(int(a[f"formant {k}"][0]), int(b[f"formant {k}"][0]))
            assert low * 0.9 - 1 <= freq <= high * 1.1 + 1
        if "stressAdd" in child:  # b's setting, verbatim
            assert child["stressAdd"] == b["stressAdd"]
    # settings only one parent has come along sometimes, not always
    klatt = sum("klatt" in parse_variant(t) for t in texts)
    assert 0 < klatt < 40


def test_children_stay_in_their_parents_group() -> None:
    parents = {"male": ["m1", "m2", "m3", "m4"], "female": ["f1", "f2"]}
    group = {"m1": "train", "m2": "train", "m3": "test", "m4": "test", "f1": "a", "f2": "b"}
    kids = draw_variants(
        parents, {"male": 8, "female": 4}, 0, system_data_dir(), group=group.__getitem__
    )
    assert kids == draw_variants(
        parents, {"male": 8, "female": 4}, 0, system_data_dir(), group=group.__getitem__
    )
    assert [k.parents[0] for k in kids[:8]] == ["m1", "m2", "m3", "m4"] * 2
    for kid in kids:
        assert group[kid.parents[0]] == group[kid.parents[1]]
        assert "-" not in kid.name and kid.name.startswith("nlv")
    with pytest.raises(ConfigError, match="no female parent"):
        draw_variants({"male": ["m1"]}, {"female": 1}, 0, system_data_dir())
    with pytest.raises(ConfigError, match="variant 'nosuch'"):
        draw_variants({"male": ["nosuch"]}, {"male": 1}, 0, system_data_dir())


def test_mixed_voice_set_splits_children_with_their_parents() -> None:
    splits = voices.variant_splits("mixed", seed=0)
    kids = voices.procedural_variants("mixed", seed=0)
    counts = voices.PROCEDURAL_COUNTS["mixed"]
    assert len(kids) == sum(counts.values())
    for kid in kids:
        assert splits[kid.name] == splits[kid.parents[0]] == splits[kid.parents[1]]
    mixed, wide = voices.voice_set_variants("mixed"), voices.voice_set_variants("wide")
    for gender, names in wide.items():
        assert len(mixed[gender]) == len(names) + counts[gender]
    assert not voices.procedural_variants("wide", seed=0)
    held_out = {v for names in voices.HOLDOUT_VARIANTS.values() for v in names}
    assert not held_out & set(splits)
    assert not held_out & {p for kid in kids for p in kid.parents}


def _speak(path_root: Path | None, voice: str, out: Path) -> np.ndarray:
    cmd = [espeak_binary(), *([f"--path={path_root}"] if path_root else []), "-v", voice]
    proc = subprocess.run(
        [*cmd, "-w", str(out), "god morgen"], capture_output=True, text=True, check=True
    )
    assert "Warning" not in proc.stderr  # no overflow of espeak's voice list
    wave, _ = sf.read(str(out))
    return np.asarray(wave)


def test_overlay_renders_generated_variants_and_keeps_named_ones(tmp_path: Path) -> None:
    generated = draw_variants({"male": ["m1", "m7"]}, {"male": 2}, 0, system_data_dir())
    root = overlay_data_dir(tmp_path / "esp", generated, named=["m3"])
    assert (root / DATA_DIR_NAME / "phontab").resolve() == (system_data_dir() / "phontab")
    # a named variant sounds exactly as with the system data
    same = _speak(root, "da+m3", tmp_path / "a.wav")
    np.testing.assert_array_equal(same, _speak(None, "da+m3", tmp_path / "b.wav"))
    # the generated variants are really used: unknown to the system data, espeak would fall
    # back to the plain language voice
    plain = _speak(None, "da", tmp_path / "c.wav")
    for v in generated:
        wave = _speak(root, f"da+{v.name}", tmp_path / f"{v.name}.wav")
        assert wave.shape != plain.shape or not np.array_equal(wave, plain)
    # rebuilding is idempotent and drops named variants no longer asked for
    overlay_data_dir(tmp_path / "esp", generated, named=[])
    names = {p.name for p in (root / DATA_DIR_NAME / "voices" / "!v").iterdir()}
    assert names == {v.name for v in generated}
    with pytest.raises(ConfigError, match="variant 'nosuchvoice'"):
        overlay_data_dir(tmp_path / "esp", generated, named=["nosuchvoice"])


def test_overlay_refuses_more_voices_than_espeak_can_list(tmp_path: Path) -> None:
    from corpus.procedural_voices import MAX_VOICES, ProceduralVariant

    many = [
        ProceduralVariant(f"nlvm{i:03d}", "male", ("m1", "m1"), "language variant\n")
        for i in range(MAX_VOICES)
    ]
    with pytest.raises(ConfigError, match="more than the 349 espeak-ng can list"):
        overlay_data_dir(tmp_path / "esp", many)
    # up to the limit it builds, and espeak-ng still finds the last variant
    fits = many[: MAX_VOICES - 10]
    root = overlay_data_dir(tmp_path / "esp", fits)
    _speak(root, f"sv+{fits[-1].name}", tmp_path / "last.wav")
