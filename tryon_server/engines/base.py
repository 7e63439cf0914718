"""The small interface every try-on engine implements.

The server owns exactly one engine instance. It is created, loaded and run only on the single
inference thread, so an engine may keep models and caches in attributes without locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

from PIL import Image

from ..exceptions import Cancelled

if TYPE_CHECKING:  # vision imports MediaPipe: only the engines that use it load it
    from ..vision.person import PersonAnalyzer

# The one definition of what a garment can be and of the per-session options' limits: the API's
# validation (schemas.py), its OpenAPI document (api/docs.py) and the engines' own option parsing
# (engines/diffusion/options.py) all read them from here.
Category = Literal["upper", "lower", "dress"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
MIN_OUTPUT_SIZE, MAX_OUTPUT_SIZE = 128, 2048
MIN_STEPS, MAX_STEPS = 1, 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 30.0
MAX_SEED = 2**32 - 1

# stage name, overall progress of this try-on in [0, 1]
ProgressCallback = Callable[[str, float], None]


@dataclass
class TryOnJob:
    """One try-on as an engine sees it: decoded images, never paths or HTTP."""

    person: Image.Image  # RGB, EXIF orientation already applied
    garment: Image.Image  # RGB or RGBA product photo
    category: Category = "upper"
    # sha256 of the stored person image: engines key their person-analysis cache on it
    person_key: str = ""
    # Per-session options the server accepts (all optional, engines use sane defaults):
    # output_size (long side, px), steps, guidance, seed, strength, fast (bool)
    options: dict[str, Any] = field(default_factory=dict)
    # set by the server when the session is deleted while running; check it between steps
    cancel: threading.Event = field(default_factory=threading.Event)

    def check_cancelled(self) -> None:
        """Raise `Cancelled` if the session was deleted; engines call this between stages."""
        if self.cancel.is_set():
            raise Cancelled("The try-on was cancelled.")


@runtime_checkable
class Engine(Protocol):
    """A try-on engine. Raise `InputRejected` (with a shopper-readable sentence) when the input
    is at fault; any other exception counts as unexpected and the server retries it.

    An engine whose weights come with terms the user must see may also carry a `licence`
    sentence: /api/health and the page footer show it (not part of the protocol, so engines
    without one still match it). An engine that analyses the person photo itself also
    implements `AnalyzesPeople` below."""

    name: str  # "classic", "catvton" or "diffusion"
    device: str  # "cpu", "cuda", ...

    def load(self) -> None:
        """Load every model. Called once, on the inference thread, before the server is ready."""

    def run(self, job: TryOnJob, progress: ProgressCallback) -> Image.Image:
        """Run one try-on and return the result as an RGB image at the person photo's aspect."""


@runtime_checkable
class AnalyzesPeople(Protocol):
    """Optional part of the engine interface: an engine that runs MediaPipe on the person photo
    for its own try-ons (classic, diffusion, catvton) lends its loaded analyzer to other work on
    the inference thread (body estimation), so the models are in memory once. An engine without
    one (a hosted engine sends the photo away) leaves this out, and that work loads its own."""

    def person_analyzer(self) -> PersonAnalyzer | None:
        """The engine's PersonAnalyzer once `load()` has run, None before. Inference thread only:
        its cache is not locked."""
