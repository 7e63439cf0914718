"""Body estimation borrows the engine's loaded PersonAnalyzer (engines.base.AnalyzesPeople) instead
of loading MediaPipe a second time; an engine without one gets a single analyzer of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.doubles import InstantEngine
from tryon_server.api import body
from tryon_server.config import Settings
from tryon_server.engines.base import AnalyzesPeople
from tryon_server.engines.catvton.engine import CatVTONEngine
from tryon_server.engines.classic import ClassicEngine
from tryon_server.engines.diffusion.engine import DiffusionEngine
from tryon_server.exceptions import InputRejected
from tryon_server.vision.person import PersonAnalyzer

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_classic_engine_lends_its_analyzer_and_estimation_runs_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = ClassicEngine()
    engine.load()
    assert isinstance(engine, AnalyzesPeople) and engine.person_analyzer() is engine.analyzer

    def no_second_analyzer() -> PersonAnalyzer:
        raise AssertionError("body estimation loaded its own analyzer beside the engine's")

    monkeypatch.setattr(body, "_own_analyzer", no_second_analyzer)
    seen: list[tuple[int, int]] = []
    real = engine.analyzer.analyze
    monkeypatch.setattr(engine.analyzer, "analyze",
                        lambda pixels, key=None: seen.append(pixels.shape[:2]) or real(pixels, key))
    photo = Image.open(FIXTURES / "grace_hopper.jpg").convert("RGB")  # waist-up: refused, after both views
    with pytest.raises(InputRejected) as refused:
        body._estimate_on_inference_thread(engine, photo, 170.0)
    assert refused.value.code == "not_full_body"
    assert seen == [(photo.height, photo.width)] * 2  # the photo and its mirror image


@pytest.mark.parametrize("engine_class", [DiffusionEngine, CatVTONEngine])
def test_gpu_engines_lend_theirs_only_once_loaded(tmp_path: Path, engine_class: type) -> None:
    engine = engine_class(Settings(models_dir=tmp_path), device="cpu")  # construction loads nothing
    assert isinstance(engine, AnalyzesPeople) and engine.person_analyzer() is None
    fallback = body._analyzer_for(engine)
    assert fallback is body._own_analyzer()  # before load() there is nothing to borrow
    engine.analyzer = loaded = PersonAnalyzer()
    assert body._analyzer_for(engine) is loaded


def test_an_engine_without_an_analyzer_gets_one_loaded_once() -> None:
    first, second = InstantEngine(), InstantEngine()
    assert not isinstance(first, AnalyzesPeople)
    analyzer = body._analyzer_for(first)
    assert isinstance(analyzer, PersonAnalyzer) and analyzer is body._analyzer_for(second)
    assert analyzer.loaded  # MediaPipe's models are in memory
