import pytest

from tasks.config import CONFIG_DIR, AnalysisConfig, ConfigError, load_analysis_config


def test_shipped_yaml_is_the_default():
    assert load_analysis_config(CONFIG_DIR / "analysis.yaml") == AnalysisConfig()


def test_a_typo_is_an_error_that_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("beats:\n  backnd: librosa\n")
    with pytest.raises(ConfigError, match="beats.backnd"):
        load_analysis_config(path)


@pytest.mark.parametrize("text,fragment", [
    ("phrases:\n  bars: 6\n", "phrases.bars"),
    ("beats:\n  backend: aubio\n", "beats.backend"),
    ("beats:\n  min_bpm: 100\n  max_bpm: 120\n", "1.5"),
    ("beats:\n  tracker_bpm: [50, 165]\n", "tracker_bpm"),
    ("beats: [\n", "not valid YAML"),
])
def test_bad_values(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_analysis_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_analysis_config(tmp_path / "nope.yaml")


def test_frozen():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        AnalysisConfig().sample_rate = 8000


def test_echelon_config_file_matches_the_spec():
    from tasks.config import EchelonConfig, load_echelon_config

    cfg = load_echelon_config()
    assert cfg == EchelonConfig()
    assert cfg.window == 46 and cfg.motion.frame_rate == 30 and cfg.encoder.output_dim == 256


def test_echelon_config_typo_is_an_error(tmp_path):
    from tasks.config import load_echelon_config

    path = tmp_path / "e.yaml"
    path.write_text("motion:\n  frame_rte: 25\n")
    with pytest.raises(ConfigError, match="motion.frame_rte"):
        load_echelon_config(path)


@pytest.mark.parametrize("name, model", [
    ("analysis.yaml", "AnalysisConfig"), ("echelon.yaml", "EchelonConfig"),
    ("vqvae.yaml", "VQVAEConfig"), ("diffusion.yaml", "DiffusionConfig"),
    ("render.yaml", "RenderConfig"), ("service.yaml", "ServiceConfig"),
    ("mapper.yaml", "MapperConfig"),
])
def test_every_shipped_yaml_is_exactly_the_model_defaults(name, model):
    """One source of defaults: a default changed in the model and not in its YAML (or the
    other way round) fails here, instead of the two silently disagreeing."""
    import yaml

    import tasks.config as config

    cls = getattr(config, model)
    data = yaml.safe_load((CONFIG_DIR / name).read_text())
    assert config.load_model(cls, CONFIG_DIR / name) == cls()
    # and the file spells out every field, so it documents the whole config
    assert _keys(data) == _keys(cls().model_dump(mode="json")), name


def test_every_config_file_is_checked():
    assert {p.name for p in CONFIG_DIR.glob("*.yaml")} == {
        "analysis.yaml", "echelon.yaml", "vqvae.yaml", "diffusion.yaml", "render.yaml",
        "service.yaml", "mapper.yaml"}


def _keys(data, prefix="") -> set[str]:
    if not isinstance(data, dict):
        return {prefix}
    return set().union(*(_keys(v, f"{prefix}.{k}") for k, v in data.items())) if data else {prefix}


def test_the_meters_are_a_list_and_one_number_still_reads():
    from tasks.config import BeatsConfig

    assert BeatsConfig().beats_per_bar == (3, 4)
    assert BeatsConfig(beats_per_bar=4).beats_per_bar == (4,)
    assert BeatsConfig(beats_per_bar=[4, 3, 4]).beats_per_bar == (3, 4)
    with pytest.raises(ValueError, match="whole numbers from 2 to 12"):
        BeatsConfig(beats_per_bar=[1])
