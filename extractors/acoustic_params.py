"""Settings of the ``acoustic`` extractor and the output schema they imply."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from extractors.spec import ExtractorSpec, FeatureColumn

ACOUSTIC_VERSION = "1"


class AcousticParams(BaseModel):
    """Analysis settings (16 kHz; 25 ms windows every 10 ms by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: int = 16_000
    win_length: int = Field(400, ge=64)
    hop_length: int = Field(160, ge=1)
    n_fft: int = 512
    n_mels: int = Field(40, ge=8)
    n_mfcc: int = Field(20, ge=2)
    f_min: float = 20.0
    f_max: float = 7_600.0
    delta_width: int = Field(2, ge=1, description="regression half-width of deltas, frames")
    sdc_n: int = Field(7, ge=1, description="SDC N: cepstra used")
    sdc_d: int = Field(1, ge=1, description="SDC d: delta spread, frames")
    sdc_p: int = Field(3, ge=1, description="SDC P: shift between blocks, frames")
    sdc_k: int = Field(7, ge=1, description="SDC k: blocks stacked")
    rolloff: float = Field(0.85, gt=0.0, lt=1.0)
    contrast_f_min: float = 200.0
    contrast_bands: int = Field(6, ge=1)
    contrast_quantile: float = Field(0.02, gt=0.0, le=0.5)
    pitch_win_length: int = 640
    pitch_f_min: float = 70.0
    pitch_f_max: float = 400.0
    voicing_threshold: float = 0.5
    silence_rms: float = 1e-4
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    corr_coeffs: int = Field(13, ge=2, description="MFCCs whose pairwise correlations are kept")
    rff_dim: int = Field(256, ge=0, description="random Fourier mean embedding size (0 = off)")
    rff_sigma: float = Field(1.0, gt=0.0, description="kernel width of the embedding")
    rff_scale_db: float = Field(10.0, gt=0.0, description="MFCC units (dB) per embedding unit")
    rff_seed: int = 0
    trim_silence: bool = True
    chunk_frames: int = Field(6_000, ge=1, description="frames analysed at once (60 s)")

    @model_validator(mode="after")
    def _check(self) -> AcousticParams:
        if self.n_fft < self.win_length:
            raise ValueError(f"n_fft={self.n_fft} must be >= win_length={self.win_length}")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} must be <= n_mels={self.n_mels}")
        if self.corr_coeffs > self.n_mfcc:
            raise ValueError(f"corr_coeffs={self.corr_coeffs} must be <= n_mfcc={self.n_mfcc}")
        if self.sdc_n > self.n_mfcc:
            raise ValueError(f"sdc_n={self.sdc_n} must be <= n_mfcc={self.n_mfcc}")
        if not 0 < self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 < f_min < f_max <= {self.sample_rate / 2}")
        if any(not 0.0 <= q <= 1.0 for q in self.quantiles):
            raise ValueError(f"quantiles must lie in [0, 1]: {self.quantiles}")
        return self


def quantile_name(q: float) -> str:
    return f"p{round(q * 100):02d}"


def acoustic_columns(p: AcousticParams) -> tuple[FeatureColumn, ...]:
    c, m, bands = p.n_mfcc, p.n_mels, p.contrast_bands + 1
    sdc = p.sdc_n * p.sdc_k
    cols: list[FeatureColumn] = [
        FeatureColumn("mfcc_mean", length=c, description="MFCC mean over speech frames (dB scale)"),
        FeatureColumn("mfcc_std", length=c, description="MFCC standard deviation"),
    ]
    cols += [
        FeatureColumn(f"mfcc_{quantile_name(q)}", length=c, description=f"MFCC {q:.0%} quantile")
        for q in p.quantiles
    ]
    k = p.corr_coeffs
    cols += [
        FeatureColumn("mfcc_skew", length=c, description="MFCC skewness"),
        FeatureColumn("mfcc_kurtosis", length=c, description="MFCC kurtosis"),
        FeatureColumn(
            "mfcc_corr",
            length=k * (k - 1) // 2,
            description=f"pairwise correlations of MFCC 0-{k - 1} (upper triangle, row-major)",
        ),
        FeatureColumn("mfcc_delta_mean", length=c, description="delta-MFCC mean"),
        FeatureColumn("mfcc_delta_std", length=c, description="delta-MFCC standard deviation"),
        FeatureColumn("mfcc_delta2_mean", length=c, description="delta-delta-MFCC mean"),
        FeatureColumn("mfcc_delta2_std", length=c, description="delta-delta-MFCC std"),
        FeatureColumn(
            "sdc_mean",
            length=sdc,
            description=f"shifted delta cepstra {p.sdc_n}-{p.sdc_d}-{p.sdc_p}-{p.sdc_k} mean",
        ),
        FeatureColumn("sdc_std", length=sdc, description="shifted delta cepstra std"),
    ]
    if p.rff_dim:
        cols.append(
            FeatureColumn(
                "rff_mean",
                length=p.rff_dim,
                description="mean of random Fourier features of mean-normalised MFCC + deltas "
                "(a kernel mean embedding of the frame distribution; fixed seeded projection)",
            )
        )
    cols += [
        FeatureColumn("logmel_mean", length=m, description="log-mel energies (dB) mean"),
        FeatureColumn("logmel_std", length=m, description="log-mel energies (dB) std"),
        FeatureColumn(
            "spectral_contrast_mean", length=bands, description="octave-band contrast, dB"
        ),
        FeatureColumn(
            "spectral_contrast_std", length=bands, description="octave-band contrast std"
        ),
        FeatureColumn("spectral_centroid_mean", description="Hz"),
        FeatureColumn("spectral_centroid_std", description="Hz"),
        FeatureColumn("spectral_bandwidth_mean", description="Hz"),
        FeatureColumn("spectral_bandwidth_std", description="Hz"),
        FeatureColumn("spectral_rolloff_mean", description=f"Hz, {p.rolloff:.0%} energy roll-off"),
        FeatureColumn("spectral_rolloff_std", description="Hz"),
        FeatureColumn("zcr_mean", description="zero crossings per sample"),
        FeatureColumn("zcr_std", description="zero crossings per sample"),
        FeatureColumn("rms_mean", description="frame RMS (full scale = 1)"),
        FeatureColumn("rms_std", description="frame RMS std"),
        FeatureColumn("voiced_ratio", description="fraction of speech frames that are voiced"),
        FeatureColumn(
            "pitch_median_st", description="median F0 of voiced frames, semitones re 100 Hz"
        ),
        FeatureColumn("pitch_std_st", description="F0 standard deviation, semitones"),
        FeatureColumn("pitch_range_st", description="F0 90%-10% quantile range, semitones"),
        FeatureColumn("pitch_slope_std_st", description="std of F0 change per 10 ms, semitones"),
        FeatureColumn("speech_duration_s", description="seconds analysed after silence trimming"),
    ]
    return tuple(cols)


def acoustic_spec(**params: object) -> ExtractorSpec:
    p = AcousticParams(**params)  # type: ignore[arg-type]
    return ExtractorSpec(
        name="acoustic",
        version=ACOUSTIC_VERSION,
        columns=acoustic_columns(p),
        description="MFCC/SDC/log-mel/spectral/pitch statistics of VAD-trimmed 16 kHz speech",
        checkpoint=None,
        needs_weights=False,
        params=p.model_dump(mode="json"),
    )
