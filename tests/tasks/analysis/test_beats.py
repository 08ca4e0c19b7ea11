import numpy as np
import pytest
from conftest import clicks

from tasks.analysis.accuracy import amlt, beat_f
from tasks.analysis.audio import load_audio
from tasks.analysis.backends import backend
from tasks.analysis.beats import (BeatActivation, bar_phase, fit_grid, tempo_segments,
                                  track_beats)
from tasks.analysis.features import frame_features
from tasks.analysis.track import analyze_track, bar_cues
from tasks.config import AnalysisConfig, BeatsConfig

FPS = 100.0


def spiky_activation(beat_times, length_s, height=1.0, offbeat_from=None, offbeat_to=None, period=None):
    """A clean activation with peaks on `beat_times`; between offbeat_from and offbeat_to the
    beats are silent and the peaks sit on the off-beats instead (hats-only intro)."""
    act = np.zeros(int(length_s * FPS))
    for t in beat_times:
        if offbeat_from is not None and offbeat_from <= t < offbeat_to:
            t = t + period / 2
        i = int(round(t * FPS))
        if i < len(act):
            act[i] = height
    return act


def test_madmom_sample_against_the_hand_annotation(data_dir):
    reference = np.loadtxt(data_dir / "sample.beats")[:, 0]
    result = analyze_track(data_dir / "sample.wav")
    assert amlt(reference, result.beat_track.beats) >= 0.85


def test_grid_keeps_the_phase_through_an_off_beat_intro():
    period = 0.4851  # 123.7 BPM: not a whole number of 10 ms frames
    truth = 0.2 + period * np.arange(200)
    act = spiky_activation(truth, 100.0, offbeat_from=0, offbeat_to=25.0, period=period)
    # The seed tracker followed the off-beat in the intro, as madmom's DBN does.
    seed = np.where(truth < 25.0, truth + period / 2, truth)
    beats = fit_grid(BeatActivation(act, None, FPS), seed)
    assert beat_f(truth, beats) >= 0.99
    assert np.abs(beats[:50] - truth[:50]).max() < 0.02


def test_grid_is_piecewise_constant_across_a_tempo_change():
    first = 0.1 + 0.5 * np.arange(100)  # 120 BPM for 50 s
    second = first[-1] + 0.5 + 0.46 * np.arange(100)  # then 130.4 BPM
    truth = np.concatenate([first, second])
    act = spiky_activation(truth, truth[-1] + 1)
    segments = tempo_segments(truth, 0.04, 16)
    assert len(segments) == 2
    assert segments[0][2] == pytest.approx(0.5, abs=0.005)
    assert segments[1][2] == pytest.approx(0.46, abs=0.005)
    beats = fit_grid(BeatActivation(act, None, FPS), truth)
    assert beat_f(truth, beats) >= 0.99


def test_octave_slips_of_the_seed_are_not_tempo_changes():
    truth = 0.1 + 0.5 * np.arange(120)
    seed = np.concatenate([truth[:40], np.arange(truth[40], truth[80], 0.25), truth[80:]])
    assert len(tempo_segments(seed, 0.04, 16)) == 1


def test_bar_phase_follows_the_downbeat_activation():
    beats = 0.3 + 0.5 * np.arange(64)
    act = spiky_activation(beats, 34.0)
    down = np.zeros_like(act)
    for t in beats[2::4]:  # downbeats on the third beat of our list
        down[int(round(t * FPS))] = 0.8
    assert bar_phase(beats, BeatActivation(act, down, FPS), [], None) == 2


def test_bar_phase_from_harmony_alone():
    beats = 0.3 + 0.5 * np.arange(64)
    fps = 50.0
    chroma = np.zeros((12, int(34 * fps)))
    for bar, start in enumerate(beats[1::4]):  # a new chord on every bar, bars start at beat 1
        a = int(start * fps)
        chroma[(bar * 5) % 12, a: a + int(2.0 * fps)] = 1.0
    assert bar_phase(beats, BeatActivation(np.zeros(3400), None, FPS), [chroma], fps) == 1


def _network_torn_between(beats: np.ndarray, sure: int, other: int, lead: float) -> BeatActivation:
    """A downbeat network that puts `lead` more on beat `sure` of each bar than on `other`."""
    act = spiky_activation(beats, 34.0)
    down = np.zeros_like(act)
    for phase, level in ((sure, 0.5 + lead / 2), (other, 0.5 - lead / 2)):
        for t in beats[phase::4]:
            down[int(round(t * FPS))] = level
    return BeatActivation(act, down, FPS)


def test_a_near_tie_goes_to_the_first_beat_heard_and_a_sure_network_keeps_its_phase():
    """GM_kit_Jazzy: kick and ride alike on beats 1 and 3, the network leans a little to 3;
    the song starts on its first bar. A network that is sure of beat 2 (a pick-up) wins."""
    beats = 0.3 + 0.5 * np.arange(64)
    assert bar_phase(beats, _network_torn_between(beats, 2, 0, 0.05), [], None) == 0
    assert bar_phase(beats, _network_torn_between(beats, 1, 0, 0.6), [], None) == 1


def test_the_music_starts_in_the_beat_before_an_off_beat_hat_even_one_the_grid_missed():
    from tasks.analysis.beats import start_prior

    beats = 0.6 + 0.48 * np.arange(40)
    hats = BeatActivation(spiky_activation([0.36, *beats], 20.0), None, FPS)  # first: 0.12 + ½
    assert np.argmax(start_prior(beats, hats, 4)) == 3  # the missed beat at 0.12 s, counted back
    on_time = BeatActivation(spiky_activation(beats[1:] + 0.24, 20.0), None, FPS)
    assert np.argmax(start_prior(beats, on_time, 4)) == 1  # the off-beat after beat 1


def _bar_changes(beats: np.ndarray, fps: float, line_phase: int, strength: float) -> np.ndarray:
    """A cue whose value changes by `strength` across bar lines placed at `line_phase`."""
    cue = np.zeros((1, int((beats[-1] + 1) * fps)))
    for bar, start in enumerate(beats[line_phase::4]):
        cue[0, int(start * fps):] += strength * (1 if bar % 2 else -1)
    return cue


def test_a_confident_downbeat_network_outvotes_cues_that_barely_lean_the_other_way():
    """Real songs: the network is sure, the arrangement hardly changes on the bar line."""
    beats = 0.3 + 0.5 * np.arange(64)
    act = spiky_activation(beats, 34.0)
    down = np.zeros_like(act)
    for t in beats[3::4]:
        down[int(round(t * FPS))] = 0.9
    for t in beats[1::4]:  # a little on the other beats, as a real network does
        down[int(round(t * FPS))] = 0.1
    fps = 50.0
    flat = [_bar_changes(beats, fps, 2, 1.0) + 10.0 * np.ones(1) for _ in range(3)]
    assert bar_phase(beats, BeatActivation(act, down, FPS), flat, fps) == 3


def test_clear_bar_line_changes_outvote_a_network_that_cannot_tell_beat_1_from_beat_3():
    """Generated house: the network halves its belief between two beats; harmony, timbre and
    bass all change on the true bar line."""
    beats = 0.3 + 0.5 * np.arange(64)
    act = spiky_activation(beats, 34.0)
    down = np.zeros_like(act)
    for t in np.concatenate([beats[1::4], beats[3::4]]):
        down[int(round(t * FPS))] = 0.5
    fps = 50.0
    cues = [_bar_changes(beats, fps, 1, 4.0) for _ in range(3)]
    assert bar_phase(beats, BeatActivation(act, down, FPS), cues, fps) == 1


def test_the_kick_moves_a_grid_that_locked_onto_loud_sixteenth_hats():
    """tutorial_georgyporgy (Hydrogen's demo): the activation peaks on the 16th-note hats all
    song long, 0.11 s after the beat; the kick drum is on the beat."""
    period, kick_fps = 0.6122, 1000 / 23.2
    truth = 0.15 + period * np.arange(80)
    act = 0.6 * spiky_activation(truth, 50.0)  # the beat, quieter
    hats = spiky_activation(truth + 0.112, 50.0)
    act = np.maximum(act, hats)
    seed = truth + 0.112  # the DBN followed the hats, as madmom's does on that song
    kick = np.zeros(int(50 * kick_fps))
    kick[np.round(truth * kick_fps).astype(int)] = 30.0
    without = fit_grid(BeatActivation(act, None, FPS), seed)
    assert beat_f(truth, without) == 0.0  # on the hats throughout
    with_kick = fit_grid(BeatActivation(act, None, FPS), seed, kick=(kick, kick_fps))
    assert beat_f(truth, with_kick) >= 0.99
    # and where no kick says otherwise, the grid stays where the activation put it
    assert np.array_equal(fit_grid(BeatActivation(act, None, FPS), seed,
                                   kick=(np.ones_like(kick), kick_fps)), without)


def _swung(truth, period, swing_height, triplet_height=0.0, seconds=50.0, beat_height=0.6):
    """Beats (0.6) and their swung 8ths two thirds of a beat later, optionally the middle
    triplet too; the kick as loud on the swung 8th as on the beat, as on GM_kit_Jazzy."""
    kick_fps = 1000 / 23.2
    act = np.maximum(beat_height * spiky_activation(truth, seconds),
                     swing_height * spiky_activation(truth + 2 * period / 3, seconds))
    act = np.maximum(act, triplet_height * spiky_activation(truth + period / 3, seconds))
    kick = np.zeros(int(seconds * kick_fps))
    kick[np.round(truth * kick_fps).astype(int)] = 30.0
    kick[np.round((truth + 2 * period / 3) * kick_fps).astype(int)] = 30.0
    return BeatActivation(act, None, FPS), (kick, kick_fps)


def test_a_grid_on_loud_swung_eighths_moves_to_the_beat_before_them():
    period = 0.6  # 100 BPM
    truth = 0.2 + period * np.arange(80)
    activation, kick = _swung(truth, period, swing_height=1.0)
    beats = fit_grid(activation, truth + 2 * period / 3, kick=kick)  # the seed on the swung 8ths
    assert beat_f(truth, beats) >= 0.98  # (without the swing rule: 0.0)
    # the network hears the swung 8th twice as loud as the beat; the kick leans a little less
    activation, kick = _swung(truth, period, swing_height=1.0, beat_height=0.48)
    kick[0][np.round((truth + 2 * period / 3) * kick[1]).astype(int)] = 34.0
    beats = fit_grid(activation, truth + 2 * period / 3, kick=kick)
    assert beat_f(truth, beats) >= 0.98
    # full triplets are not swing: the loudest of them stays the beat
    activation, kick = _swung(truth, period, swing_height=0.5, triplet_height=0.5)
    beats = fit_grid(activation, truth, kick=(np.ones_like(kick[0]), kick[1]))
    assert beat_f(truth, beats) >= 0.99


def test_confidence_is_low_where_the_music_cannot_tell_and_high_where_it_can(tmp_path,
                                                                            house_analysis):
    from tasks.analysis.beats import LOW_DOWNBEAT_CONFIDENCE

    on_beats = analyze_track(clicks(np.arange(0.5, 24, 0.5), tmp_path / "beats.wav"))
    eighths = analyze_track(clicks(np.arange(0.5, 24, 0.25), tmp_path / "eighths.wav"))
    # equal clicks on every 8th note: which of two is the beat, which of eight the bar line?
    assert eighths.beat_track.beat_confidence < on_beats.beat_track.beat_confidence == 1.0
    assert eighths.beat_track.downbeat_confidence < LOW_DOWNBEAT_CONFIDENCE
    house = house_analysis.beat_track  # kick on the beat, chords and sections on bar lines
    assert house.downbeat_confidence > 2 * eighths.beat_track.downbeat_confidence
    assert house.beat_confidence > 0.45 and house.downbeat_confidence > LOW_DOWNBEAT_CONFIDENCE
    assert 0.0 <= house.beat_confidence <= 1.0 and 0.0 <= house.downbeat_confidence <= 1.0


def test_generated_house_track_beats_and_downbeats(house_track, house_analysis):
    bt = house_analysis.beat_track
    assert bt.tempo_bpm == pytest.approx(house_track.spec.bpm, rel=0.005)
    assert beat_f(house_track.beats, bt.beats) >= 0.97
    assert beat_f(house_track.downbeats, bt.downbeats) >= 0.95
    # The off-beat-only intro (first 8 bars) is on the beat, not between beats.
    intro = house_track.beats[house_track.beats < house_track.section_starts[1]]
    assert beat_f(intro, bt.beats[bt.beats < house_track.section_starts[1]]) >= 0.95


def test_madmom_dbn_alone_drifts_where_the_grid_does_not(house_track, house_analysis):
    """The reason the grid stage exists: the DBN's own beats lose the phase somewhere."""
    act = house_analysis.beat_track.activation
    seed = backend("madmom").seed_beats(act, 55, 215).times
    assert beat_f(house_track.beats, seed) < beat_f(house_track.beats, house_analysis.beat_track.beats)


def test_librosa_backend(house_track, house_wav):
    config = AnalysisConfig(beats=BeatsConfig(backend="librosa"))
    result = analyze_track(house_wav, config)
    assert result.beat_track.activation.downbeat is None
    assert beat_f(house_track.beats, result.beat_track.beats) >= 0.9


def test_track_beats_on_too_little_seed_returns_nothing():
    act = BeatActivation(np.zeros(300), None, FPS)
    assert len(track_beats(act, np.array([0.5])).beats) <= 1


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown beat backend"):
        backend("aubio")


def test_bar_cues_shapes(data_dir):
    audio = load_audio(data_dir / "sample.wav", 22050)
    cues = bar_cues(frame_features(audio.samples, 22050))
    assert [c.shape[0] for c in cues] == [12, 20, 12]


def test_the_beat_level_stays_where_no_kit_says_otherwise():
    """A grid over a track with nothing below the hats (a pad, hats alone) keeps its tempo:
    without a kit there is no evidence for another octave."""
    from tasks.analysis.beats import beat_level

    fps, beats = 43.0, 0.5 + 0.5 * np.arange(60)
    flat = np.full(int(32 * fps), 0.01)
    assert np.array_equal(beat_level(beats, flat, fps, 60, 200), beats)
    kit = flat.copy()
    kit[np.round(beats[0::2] * fps).astype(int)] = 5.0  # a kick on every other beat only
    assert np.allclose(np.diff(beat_level(beats, kit, fps, 60, 200)), 1.0)  # halved
    assert np.array_equal(beat_level(beats, kit, fps, 90, 200), beats)  # 60 BPM is out of range


def _level(bar, two_bars=np.zeros(8), network=None, second_half=None):
    """Level evidence: `two_bars` in both halves and in the network unless told otherwise."""
    from tasks.analysis.beats import LevelEvidence

    second = two_bars if second_half is None else second_half
    return LevelEvidence(bar, two_bars, (two_bars, second), two_bars if network is None else network)


def test_a_fast_song_halved_by_the_tracker_doubles_where_network_and_kit_both_hear_beats():
    """Hydrogen's TR808 demo at 200 BPM: the tracker (75–165) takes 100; the network peaks
    between its beats, and a clap sits there. Loud 16th hats make the network
    peak between the beats too, with nothing of the kit's body there: no doubling."""
    from tasks.analysis.beats import beat_level

    fps, beats = 43.0, 0.5 + 0.6 * np.arange(40)  # 100 BPM, truly 200
    middles = beats[:-1] + 0.3
    network = BeatActivation(spiky_activation(np.concatenate([beats, middles]), 26.0), None, FPS)
    body = np.full(int(26 * fps), 0.01)
    body[np.round(beats * fps).astype(int)] = 5.0  # kicks
    clap = body.copy()
    clap[np.round(middles * fps).astype(int)] = 2.0  # claps, lighter than the kicks
    assert np.allclose(np.diff(beat_level(beats, clap, fps, 60, 200, network)), 0.3)
    assert np.array_equal(beat_level(beats, body, fps, 60, 200, network), beats)  # hats only
    assert np.array_equal(beat_level(beats, clap, fps, 60, 190, network), beats)  # out of range
    # 4/4: a network that hears the halfway beats only faintly still doubles where the bar
    # cannot tell its beat 1 from its beat 3 (two true bars in one), never where it can
    faint = BeatActivation(np.maximum(spiky_activation(beats, 26.0),
                                      spiky_activation(middles, 26.0, 0.4)), None, FPS)
    halves = np.array([1.0, -0.8, 0.6, -0.8])  # bar phases 0 and 2 nearly alike
    bar = np.array([1.5, -0.5, -0.5, -0.5])  # a clear bar line every fourth beat
    assert np.allclose(np.diff(beat_level(beats, clap, fps, 60, 200, faint, _level(halves))),
                       0.3)
    assert np.array_equal(beat_level(beats, clap, fps, 60, 200, faint, _level(bar)), beats)
    assert np.array_equal(beat_level(beats, clap, fps, 60, 200, faint), beats)  # 3/4: 0.75
    # at double tempo (a slow song read at 200) the bar evidence tells alternate "bars" apart:
    # halved, onto the beats the kit's body is on; a bar line every fourth beat alone is not
    alternate = np.array([1.5, -0.3, 0.1, -0.3, 0.3, -0.3, 0.1, -0.3])
    every_fourth = np.array([1.0, -0.5, -0.5, -0.5, 1.0, -0.5, -0.5, -0.5])
    fast = np.sort(np.concatenate([beats, middles]))  # 200 BPM, truly 100
    assert np.allclose(beat_level(fast, clap, fps, 60, 200, faint, _level(bar, alternate)),
                       beats)
    assert np.array_equal(beat_level(fast, clap, fps, 60, 200, faint, _level(bar, every_fourth)),
                          fast)
    assert np.array_equal(beat_level(fast, clap, fps, 110, 200, faint, _level(bar, alternate)),
                          fast)  # 50 BPM is out of range
    # ...with the downbeat network: cues alone may follow a two-bar bass line
    assert np.array_equal(beat_level(fast, clap, fps, 60, 200, faint,
                                     _level(bar, alternate, network=every_fourth)), fast)
    # ...in every stretch of the track: one half alone is chance
    assert np.array_equal(beat_level(fast, clap, fps, 60, 200, faint,
                                     _level(bar, alternate, second_half=every_fourth)), fast)
    # ...and never to below the tracker's range: a song at 120–150 with two-bar phrases shows
    # the same evidence as a slow song read at double, and is the more common
    assert np.array_equal(beat_level(fast, clap, fps, 60, 200, faint, _level(bar, alternate),
                                     bar_halving_min_bpm=110), fast)
    # swing: the network's strongest pulse is the late 8th; halfway it peaks as high as on the
    # beat, yet far below that 8th (GM_kit_Jazzy): no beat of its own, no doubling
    swing = np.maximum(spiky_activation(np.concatenate([beats, middles]), 26.0, 0.5),
                       spiky_activation(beats + 0.4, 26.0))
    assert np.array_equal(beat_level(beats, clap, fps, 60, 200, BeatActivation(swing, None, FPS)),
                          beats)


def test_thirds_of_a_beat_in_the_network_mark_a_three_to_two_slip():
    """A 180 BPM song gridded at 120: the network's beats fall on the grid's beat and a third
    and two thirds after it. Straight 8ths and 16ths never look like that."""
    from tasks.analysis.beats import hears_thirds

    grid = 0.5 + 0.5 * np.arange(50)  # 120 BPM
    for per_beat, thirds in ((3, True), (2, False), (4, False), (1, False)):
        heard = 0.5 + 0.5 / per_beat * np.arange(50 * per_beat)
        activation = BeatActivation(spiky_activation(heard, 26.0), None, FPS)
        assert hears_thirds(activation, grid) is thirds, per_beat


def test_the_whole_range_grid_wins_where_the_narrow_one_slipped():
    from tasks.analysis.beats import BeatTrack, the_better_tracking

    activation = BeatActivation(np.zeros(2600), None, FPS)

    def at(bpm):
        beats = 0.5 + 60 / bpm * np.arange(int(bpm / 3))
        return BeatTrack(beats, np.arange(len(beats)) % 4 + 1, bpm, activation, beats_per_bar=4)

    for narrow, whole, chosen in ((117.3, 176.0, 176.0),  # 3:2 above the tracker's range
                                  (64.0, 192.0, 192.0),  # 3:2, then halved
                                  (90.0, 180.5, 180.5),  # doubled: the direct tracking
                                  (120.0, 121.0, 120.0),  # the same tempo within range
                                  (100.0, 150.0, 100.0),  # 3:2 within range: no sign of a slip
                                  (120.0, 160.0, 120.0)):  # nothing the rules know
        doubled = at(2 * narrow) if whole > 165 and abs(whole / narrow - 2) < 0.1 else at(narrow)
        assert the_better_tracking(doubled, at(whole), 165.0, (), 43.0).tempo_bpm == chosen
