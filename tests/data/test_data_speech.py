"""Google Speech Commands: Slaney mel filterbank, log-mel features, WAV reading and the 12-class split."""


import numpy as np
import pytest
import torch

from pmsn.data import CorruptDataError, MissingDataError, build_dataset, log_mel_features, mel_filterbank, read_wav
from pmsn.data.samples import write_wav
from pmsn.data.speech import hz_to_mel, mel_to_hz


def tone(frequency, seconds=1.0, amplitude=8000):
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


@pytest.fixture
def gsc_root(tmp_path):
    rng = np.random.RandomState(0)
    clips = ["yes/a_nohash_0.wav", "yes/b_nohash_0.wav", "no/a_nohash_0.wav", "go/c_nohash_1.wav",
             "cat/a_nohash_0.wav", "cat/d_nohash_0.wav", "marvin/e_nohash_0.wav", "stop/f_nohash_0.wav"]
    for index, clip in enumerate(clips):
        write_wav(tmp_path / clip, tone(300 + 200 * index, seconds=0.5 if clip.startswith("go") else 1.0))
    write_wav(tmp_path / "_background_noise_" / "white_noise.wav", rng.randint(-3000, 3000, 40000))
    (tmp_path / "validation_list.txt").write_text("no/a_nohash_0.wav\ncat/d_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("go/c_nohash_1.wav\nmarvin/e_nohash_0.wav\n")
    (tmp_path / "README.md").write_text("not a folder")
    return tmp_path


def test_slaney_mel_scale_reference_points():
    assert hz_to_mel(1000.0) == pytest.approx(15.0)  # linear part: 200/3 Hz per mel
    assert hz_to_mel(40.0) == pytest.approx(0.6)
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # 27 mels per factor 6.4 above 1 kHz
    frequencies = np.array([0.0, 40.0, 999.0, 1000.0, 2500.0, 4000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(frequencies)), frequencies, atol=1e-9)


def test_mel_filterbank_properties():
    filters = mel_filterbank().numpy()
    assert filters.shape == (40, 241) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) > 0).all()  # centre frequencies strictly increasing
    bin_hz = 16000 / 480
    assert peaks[0] * bin_hz >= 40 and peaks[-1] * bin_hz <= 4000
    assert filters[:, : int(40 // bin_hz)].sum() == 0 and filters[:, int(4000 // bin_hz) + 1:].sum() == 0
    np.testing.assert_allclose(filters.sum(axis=1) * bin_hz, 1.0, atol=0.1)  # Slaney norm: unit area in Hz


def test_pure_tone_peaks_in_the_matching_band():
    filters = mel_filterbank().numpy()
    features = log_mel_features(torch.from_numpy(tone(1000).astype(np.float32) / 32768))
    assert features.shape == (101, 40)
    centre_hz = filters.argmax(axis=1) * 16000 / 480
    assert abs(centre_hz[int(features[50].argmax())] - 1000) < 100


def test_features_are_z_scored_and_padded():
    short = torch.from_numpy(tone(500, seconds=0.3).astype(np.float32) / 32768)
    features = log_mel_features(short)
    assert features.shape == (101, 40)
    assert abs(float(features.mean())) < 1e-5 and float(features.std()) == pytest.approx(1.0, abs=1e-5)
    assert torch.all(features[40:] == features[100])  # padded frames (0 dB before the z-score) are all equal
    assert torch.equal(log_mel_features(torch.zeros(16000)), torch.zeros(101, 40))  # silent clip: std 0, no scaling


def test_read_wav_scales_int16(tmp_path):
    write_wav(tmp_path / "x.wav", [0, 16384, -32768, 32767])
    np.testing.assert_allclose(read_wav(tmp_path / "x.wav").numpy(), [0, 0.5, -1, 32767 / 32768])
    write_wav(tmp_path / "stereo.wav", [0, 0, 1, 1], channels=2)
    with pytest.raises(CorruptDataError, match="mono 16-bit 16000 Hz"):
        read_wav(tmp_path / "stereo.wav")


def test_splits_and_labels(gsc_root):
    train = build_dataset("gsc", "train", data_dir=gsc_root)
    valid = build_dataset("gsc", "valid", data_dir=gsc_root)
    test = build_dataset("gsc", "test", data_dir=gsc_root)
    assert train.clips == ["_background_noise_/white_noise.wav", "cat/a_nohash_0.wav", "stop/f_nohash_0.wav",
                           "yes/a_nohash_0.wav", "yes/b_nohash_0.wav"]
    assert train.labels.tolist() == [1, 0, 10, 2, 2]  # silence 1, unknown 0, keywords 2..11 (docs/tasks.md §1.5)
    assert valid.labels.tolist() == [3, 0] and test.labels.tolist() == [11, 0]
    for dataset in (train, test):
        x, _ = dataset[0]
        assert x.shape == (101, 40) and x.dtype == torch.float32 and torch.isfinite(x).all()


def test_missing_split_list_names_it_and_the_source(tmp_path):
    with pytest.raises(MissingDataError, match=r"testing_list\.txt.*speech_commands.*--data-dir"):
        build_dataset("gsc", "train", data_dir=tmp_path)


def _z_score(x):
    return (x - x.mean()) / x.std()


def test_variable_length_items_hold_the_clips_own_frames(gsc_root):
    """docs/variable_length.md §5: (x, label, L); L = 1 + n // 160 frames (at most 101); the L frames are z-scored
    over themselves (= the fixed reader's frames re-z-scored, z-scores being invariant to affine maps), zeros after."""
    fixed = build_dataset("gsc", "test", data_dir=gsc_root)
    varied = build_dataset("gsc", "test", data_dir=gsc_root, variable_length=True)
    assert len(fixed[0]) == 2  # the default items are unchanged
    for index, expected_length in enumerate([1 + 8000 // 160, 101]):  # the 0.5 s "go" clip, the 1 s "marvin" clip
        x, label, length = varied[index]
        assert (length, label) == (expected_length, fixed[index][1]) and x.shape == (101, 40)
        torch.testing.assert_close(x[:length], _z_score(fixed[index][0][:length]), atol=1e-5, rtol=1e-4)
        assert torch.all(x[length:] == 0)
    assert torch.equal(varied[1][0], fixed[1][0])  # a full 1 s clip has no padding: the same features
    noise = build_dataset("gsc", "train", data_dir=gsc_root, variable_length=True)[0]  # 2.5 s: cut to 101
    assert noise[1:] == (1, 101)


def test_variable_length_option_must_be_a_bool(gsc_root):
    with pytest.raises(ValueError, match="gsc: variable_length must be true or false, got 'yes'"):
        build_dataset("gsc", "test", data_dir=gsc_root, variable_length="yes")
