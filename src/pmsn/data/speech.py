"""Google Speech Commands, 12-class keyword task (docs/tasks.md §1.5): log-mel frames, T = 101.

Features per clip, matching the TC-LIF pipeline (librosa defaults): 16 kHz mono 16-bit WAV read with ``wave``;
STFT n_fft 480, hop 160, periodic Hann window, centred with reflect padding; magnitude (power 1); 40 mel bands
40 Hz–4 kHz with the **Slaney** mel scale and Slaney area normalisation; dB = 10·log10 relative to the clip
maximum, floored at max − 80 dB; zero-padded / truncated to 101 frames; z-score over the whole 101×40 map.
With ``variable_length`` an item is ``(x, label, length)``: the clip's own L ≤ 101 frames z-scored over themselves,
then zeros (docs/variable_length.md §5).
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import find_path, resolve_data_dir
from .collate import check_variable_length
from .errors import corrupt_data, missing_data

GSC_SOURCE = ("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (TensorFlow Speech Commands; "
              "unpack it, v0.01 works too)")
GSC_SUBDIRS = ("speech_commands_v0.02", "speech_commands_v0.01", "SpeechCommands/speech_commands_v0.02")
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")  # labels 2..11
UNKNOWN_LABEL, SILENCE_LABEL = 0, 1
BACKGROUND_FOLDER = "_background_noise_"
SPLIT_LISTS = {"valid": "validation_list.txt", "test": "testing_list.txt"}

SAMPLE_RATE = 16000
N_FFT = 480
HOP_LENGTH = 160
N_MELS = 40
F_MIN, F_MAX = 40.0, 4000.0
FRAMES = 101
TOP_DB = 80.0
AMPLITUDE_FLOOR = 1e-10

# Slaney mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic (27 mels per factor 6.4) above
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL  # 15
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _SLANEY_HZ_PER_MEL
    logarithmic = _SLANEY_BREAK_MEL + np.log(np.maximum(hz, _SLANEY_BREAK_HZ) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(hz >= _SLANEY_BREAK_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _SLANEY_HZ_PER_MEL
    logarithmic = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (np.maximum(mel, _SLANEY_BREAK_MEL) - _SLANEY_BREAK_MEL))
    return np.where(mel >= _SLANEY_BREAK_MEL, logarithmic, linear)


def mel_filterbank(n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> torch.Tensor:
    """Triangular mel filters [n_mels, n_fft//2 + 1] on the Slaney scale with Slaney (unit-area) normalisation.

    Filter m rises from band edge m to m+1 and falls to m+2, the n_mels+2 edges being equally spaced in mel
    between f_min and f_max; each row is scaled by 2 / (f[m+2] − f[m]).
    """
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}")
    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(edges_hz)
    rising = (bin_hz[None, :] - edges_hz[:-2, None]) / widths[:-1, None]
    falling = (edges_hz[2:, None] - bin_hz[None, :]) / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return torch.from_numpy(filters.astype(np.float32))


def read_wav(path: Path, task: str = "gsc") -> torch.Tensor:
    """16-bit mono 16 kHz PCM WAV -> float32 samples in [-1, 1)."""
    try:
        with wave.open(str(path), "rb") as stream:
            channels, width, rate = stream.getnchannels(), stream.getsampwidth(), stream.getframerate()
            frames = stream.readframes(stream.getnframes())
    except (wave.Error, EOFError) as error:
        raise corrupt_data(task, path, f"unreadable WAV: {error}", GSC_SOURCE) from error
    if (channels, width, rate) != (1, 2, SAMPLE_RATE):
        raise corrupt_data(task, path, f"{channels} channel(s), {8 * width}-bit, {rate} Hz; expected mono 16-bit "
                           f"{SAMPLE_RATE} Hz", GSC_SOURCE)
    return torch.from_numpy(np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0)


_FILTERBANK = mel_filterbank()
_WINDOW = torch.hann_window(N_FFT, periodic=True)


def _decibel_frames(waveform: torch.Tensor) -> torch.Tensor:
    """One clip's samples [n] -> log-mel dB [40, frames], frames = min(1 + n // 160, 101) (at least 4)."""
    if waveform.numel() < N_FFT:  # reflect padding needs more than n_fft/2 samples
        waveform = torch.nn.functional.pad(waveform, (0, N_FFT - waveform.numel()))
    magnitude = torch.stft(waveform, N_FFT, HOP_LENGTH, window=_WINDOW, center=True, pad_mode="reflect",
                           return_complex=True).abs()
    mel = _FILTERBANK @ magnitude  # [40, frames]
    decibels = 10.0 * torch.log10(mel.clamp_min(AMPLITUDE_FLOOR))
    decibels = decibels - 10.0 * math.log10(max(float(mel.max()), AMPLITUDE_FLOOR))
    decibels = decibels.clamp_min(float(decibels.max()) - TOP_DB)
    return decibels[:, :FRAMES]


def _z_score(decibels: torch.Tensor) -> torch.Tensor:
    spread = decibels.std()
    return (decibels - decibels.mean()) / spread if spread > 0 else decibels


def log_mel_features(waveform: torch.Tensor) -> torch.Tensor:
    """One clip's samples [n] -> z-scored log-mel frames [101, 40] (time first)."""
    decibels = _decibel_frames(waveform)
    # zero-padded in the dB domain, as the reference does, and z-scored with the padding
    decibels = torch.nn.functional.pad(decibels, (0, FRAMES - decibels.shape[1]))
    return _z_score(decibels).t().contiguous()


def log_mel_sequence(waveform: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The variable-length form (docs/variable_length.md §5): ``([101, 40], L)``, the clip's own L frames z-scored
    over themselves only, zeros after."""
    decibels = _decibel_frames(waveform)
    length = decibels.shape[1]
    features = torch.nn.functional.pad(_z_score(decibels), (0, FRAMES - length))
    return features.t().contiguous(), length


def keyword_label(word: str) -> int:
    """docs/tasks.md §1.5: the 10 keywords -> 2..11, ``_background_noise_`` -> 1 (silence), any other word -> 0."""
    if word == BACKGROUND_FOLDER:
        return SILENCE_LABEL
    return KEYWORDS.index(word) + 2 if word in KEYWORDS else UNKNOWN_LABEL


def list_split(root: Path, split: str) -> list[str]:
    """Relative paths ``word/file.wav`` of a split: the official lists for valid/test, every other clip for train
    (plus the long ``_background_noise_`` files as silence; no synthetic silence clips are cut)."""
    listed = {}
    for name, list_file in SPLIT_LISTS.items():
        with open(root / list_file) as stream:
            listed[name] = [line.strip() for line in stream if line.strip()]
    if split != "train":
        return listed[split]
    held_out = set(listed["valid"]) | set(listed["test"])
    clips = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.wav"))
    return [clip for clip in clips if clip not in held_out]


class SpeechCommandsDataset(Dataset):
    """``ds[i]`` = (float32 log-mel [101, 40], label in 0..11); features are computed per item. With
    ``variable_length``: (features zero after the clip's L frames, label, L), for ``pad_collate``."""

    num_classes = 12

    def __init__(self, root: Path, split: str, variable_length: bool = False):
        self.root = root
        self.variable_length = check_variable_length("gsc", variable_length)
        self.clips = list_split(root, split)
        self.labels = torch.tensor([keyword_label(clip.split("/")[0]) for clip in self.clips], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, int]:
        path = self.root / self.clips[index]
        if not path.exists():
            raise missing_data("gsc", f"clip {self.clips[index]}", [self.root], GSC_SOURCE)
        if self.variable_length:
            features, length = log_mel_sequence(read_wav(path))
            return features, int(self.labels[index]), length
        return log_mel_features(read_wav(path)), int(self.labels[index])


def build_speech_commands(split: str, data_dir, variable_length: bool = False) -> SpeechCommandsDataset:
    """Task ``gsc``: the folder holding the word folders, validation_list.txt and testing_list.txt."""
    expected = "validation_list.txt, testing_list.txt and the word folders of WAVs"
    root = resolve_data_dir(data_dir, "gsc", expected, GSC_SOURCE)
    folder = find_path(root, ("testing_list.txt",), GSC_SUBDIRS, "gsc", "testing_list.txt", GSC_SOURCE).parent
    find_path(folder, ("validation_list.txt",), (), "gsc", "validation_list.txt", GSC_SOURCE)
    return SpeechCommandsDataset(folder, split, variable_length)
