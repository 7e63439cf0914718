"""What the extension's product detection costs the page it runs on: CPU time per detection.

Run: python tests/benchmarks/extension_detection.py [--repeat 3] [--pages-dir DIR] [--json PATH]
     [--extension DIR]  (another copy of the extension, e.g. an older commit's, to compare)

Each page is opened in headless Chromium with the unpacked extension while a Chrome trace records
the renderer's main thread. A detection starts as a `refresh()` task of the content script and,
on a page where it costs more than a few milliseconds, goes on in `slice` tasks (detection, then
placing the button); the trace gives each task's CPU time on the thread (`tdur`, which a busy
machine's waiting does not inflate) and wall time (`dur`). Reported per page: the first detection
(cold code, a page that has just loaded) and the later ones, each as CPU time in all and as its
longest task, the longest idle-time slice of the walk for CSS backgrounds (`scanSlice`), and the
content scripts' own evaluation when they are injected (where V8 compiles them: they ask for eager
compilation).

Pages:
- by default the project's own fixture shops (tests/shops/), each as written and made big: a mega
  menu, a grid of 48 recommendation tiles and a long footer added before the first detection
  (about 7,000 more elements, the size of a big real shop page);
- with `--pages-dir`, a folder of saved pages with a MANIFEST.json in the format of the team's
  shops-dev set (evaluation data: read in place, never copied here). Every request that leaves
  loopback is answered locally: pictures by that folder's own `score_shops.image_for` when it has
  one (the sizes the pages are scored with), else one 800x1000 JPEG.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from tests.benchmarks.harness import load_average, machine  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.shops.shop_server import PAGES, start_shop_server  # noqa: E402

EXTENSION = ROOT / "static" / "extension"
VIEWPORT = {"width": 1440, "height": 900}
TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline"]

# Added at DOMContentLoaded, before the content script's first detection (document_idle): what
# makes a real shop page big: a mega menu, a grid of other products, a footer full of links.
MAKE_BIG = """document.addEventListener('DOMContentLoaded', () => {
  const menu = document.createElement('nav');
  menu.innerHTML = Array.from({length: 40}, (_, i) => `<div class="menu-col"><h4>Section ${i}</h4><ul>` +
    Array.from({length: 25}, (_, j) => `<li><a href="/c/${i}/${j}"><span>Category ${i}.${j}</span></a></li>`).join('') +
    '</ul></div>').join('');
  menu.style.display = 'none';
  document.body.prepend(menu);
  const grid = document.createElement('section');
  grid.className = 'recommendations';
  grid.innerHTML = '<h2>You may also like</h2>' + Array.from({length: 48}, (_, i) =>
    `<div class="tile"><a href="/p/other-${i}"><img src="/img/none-${i}.jpg" width="180" height="240" alt="Other ${i}">` +
    `<div class="name"><span>Other product ${i}</span></div>` +
    `<div class="price"><span>$${i + 10}.00</span></div></a></div>`).join('');
  document.body.append(grid);
  const footer = document.createElement('footer');
  footer.innerHTML = Array.from({length: 60}, (_, i) => `<div><p>Help topic ${i}</p><ul>` +
    Array.from({length: 20}, (_, j) => `<li><a href="/help/${i}/${j}">Question ${j}</a> <em>new</em></li>`).join('') +
    '</ul></div>').join('');
  document.body.append(footer);
});"""


def detection_tasks(events: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """The content script's detections, its idle walk slices (`scanSlice`) and its injection in a trace.

    A detection starts with a `refresh()` task, which runs its first slice, and goes on in `slice`
    tasks until the next detection starts; each detection is reported with its CPU time in all
    (`cpu_ms`), its longest task (`task_ms`) and its number of tasks."""
    out: dict[str, list[dict[str, float]]] = {"refresh": [], "scanSlice": [], "inject": []}
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        data = (e.get("args") or {}).get("data") or {}
        if "dur" not in e or not str(data.get("url", "")).startswith("chrome-extension://"):
            continue
        cpu, wall = e.get("tdur", e["dur"]) / 1000, e["dur"] / 1000
        name = data.get("functionName") if e.get("name") == "FunctionCall" else e.get("name")
        if name == "EvaluateScript":
            out["inject"].append({"cpu_ms": cpu, "wall_ms": wall})
        elif name == "scanSlice":
            out["scanSlice"].append({"cpu_ms": cpu, "wall_ms": wall})
        elif name == "refresh":
            out["refresh"].append({"cpu_ms": cpu, "wall_ms": wall, "task_ms": cpu, "tasks": 1})
        elif name == "slice" and out["refresh"]:
            run = out["refresh"][-1]
            run.update(cpu_ms=run["cpu_ms"] + cpu, wall_ms=run["wall_ms"] + wall,
                       task_ms=max(run["task_ms"], cpu), tasks=run["tasks"] + 1)
    return out


async def measure_page(context, url: str, big: bool, wait_s: float) -> dict[str, Any]:
    page = await context.new_page()
    if big:
        await page.add_init_script(MAKE_BIG)
    cdp = await context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    complete = asyncio.Event()
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda _e: complete.set())
    config = {"traceConfig": {"includedCategories": TRACE_CATEGORIES}, "transferMode": "ReportEvents"}
    await cdp.send("Tracing.start", config)
    try:
        await page.goto(url, wait_until="load", timeout=45000)
    except Exception as e:  # a page that never finishes loading is still measured
        print(f"  (load not finished: {str(e).splitlines()[0][:80]})", flush=True)
    await page.wait_for_timeout(wait_s * 1000)
    elements = await page.evaluate("document.getElementsByTagName('*').length")
    button = await page.evaluate("Boolean(document.querySelector('tryon-extension-button'))")
    await cdp.send("Tracing.end")
    await asyncio.wait_for(complete.wait(), 60)
    await cdp.detach()
    await page.close()
    tasks = detection_tasks(events)
    return {"elements": elements, "button": button, **tasks}


def image_answerer(pages_dir: Path | None) -> Callable[[str], bytes]:
    """The pictures for a saved page's external addresses: its folder's own generator when it has one."""
    if pages_dir and (pages_dir / "score_shops.py").is_file():
        sys.path.insert(0, str(pages_dir))
        try:
            import score_shops  # type: ignore[import-not-found]
            return score_shops.image_for
        except Exception as e:  # fall back to one picture for all
            print(f"(score_shops.image_for not usable: {e}; one 800x1000 picture for all)")
    buf = io.BytesIO()
    Image.new("RGB", (800, 1000), (180, 170, 160)).save(buf, "JPEG", quality=80)
    body = buf.getvalue()
    return lambda _url: body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pages_dir: Path | None = args.pages_dir
    shop = start_shop_server(Path(tempfile.mkdtemp(prefix="bench-shop-pictures-")))
    if pages_dir:
        manifest = json.loads((pages_dir / "MANIFEST.json").read_text())["pages"]
        names = [n for n in manifest if not args.pages or n in args.pages.split(",")]
        targets = [(n, f"/saved/{manifest[n]['file']}", False) for n in names]
    else:
        names = sorted(p.name for p in PAGES.glob("*.html"))
        targets = [(n.removesuffix(".html"), f"/{n}", False) for n in names] + \
                  [(n.removesuffix(".html") + " (big)", f"/{n}", True) for n in names]
    picture = image_answerer(pages_dir)
    origin = urllib.parse.urlsplit(shop.url).netloc

    async def route(route) -> None:
        request = route.request
        parts = urllib.parse.urlsplit(request.url)
        if parts.scheme in ("data", "blob", "chrome-extension"):
            return await route.continue_()
        if parts.netloc == origin:
            path = urllib.parse.unquote(parts.path)
            if pages_dir and path.startswith("/saved/"):
                file = (pages_dir / path.removeprefix("/saved/")).resolve()
                if file.is_file() and pages_dir in file.parents:
                    return await route.fulfill(status=200, body=file.read_bytes(), content_type="text/html; charset=utf-8")
            elif not path.startswith("/img/none-"):
                return await route.continue_()
        if request.resource_type == "image":
            return await route.fulfill(status=200, body=picture(request.url), content_type="image/jpeg")
        return await route.fulfill(status=204, body="")

    extension: Path = args.extension
    results: dict[str, Any] = {}
    async with async_playwright() as p:
        profile = Path(tempfile.mkdtemp(prefix="bench-detection-profile-"))
        context = await p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, viewport=VIEWPORT,
            args=CHROMIUM_ARGS + [f"--disable-extensions-except={extension}", f"--load-extension={extension}",
                                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])
        await context.route("**/*", route)
        for name, path, big in targets:
            runs = [await measure_page(context, shop.url + path, big, args.wait) for _ in range(args.repeat)]
            first = [r["refresh"][0]["cpu_ms"] for r in runs if r["refresh"]]
            first_wall = [r["refresh"][0]["wall_ms"] for r in runs if r["refresh"]]
            first_task = [r["refresh"][0]["task_ms"] for r in runs if r["refresh"]]
            tasks = [t["task_ms"] for r in runs for t in r["refresh"]]
            later = [t["cpu_ms"] for r in runs for t in r["refresh"][1:]]
            slices = [t["cpu_ms"] for r in runs for t in r["scanSlice"]]
            inject = [sum(t["cpu_ms"] for t in r["inject"]) for r in runs if r["inject"]]
            results[name] = {
                "elements": runs[-1]["elements"], "button": runs[-1]["button"],
                "first_cpu_ms": statistics.median(first) if first else None,
                "first_wall_ms": statistics.median(first_wall) if first_wall else None,
                "first_longest_task_ms": statistics.median(first_task) if first_task else None,
                "longest_task_ms": max(tasks) if tasks else None,
                "later_cpu_median_ms": statistics.median(later) if later else None,
                "later_cpu_max_ms": max(later) if later else None,
                "slice_cpu_max_ms": max(slices) if slices else None,
                "inject_cpu_ms": statistics.median(inject) if inject else None,
                "detections": sum(len(r["refresh"]) for r in runs),
            }
            print(f"{name:34s} {json.dumps(results[name])}", flush=True)
        await context.close()
    shop.stop()
    return results


def summary(results: dict[str, Any]) -> str:
    def fmt(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f}, max {max(values):.1f}" if values else "none"
    firsts = [r["first_cpu_ms"] for r in results.values() if r["first_cpu_ms"] is not None]
    laters = [r["later_cpu_max_ms"] for r in results.values() if r["later_cpu_max_ms"] is not None]
    slices = [r["slice_cpu_max_ms"] for r in results.values() if r["slice_cpu_max_ms"] is not None]
    inject = [r["inject_cpu_ms"] for r in results.values() if r["inject_cpu_ms"] is not None]
    longest = [r["longest_task_ms"] for r in results.values() if r["longest_task_ms"] is not None]
    over = sorted(((r["first_cpu_ms"], n) for n, r in results.items() if (r["first_cpu_ms"] or 0) > 15), reverse=True)
    return (f"{len(results)} pages; CPU ms per detection: first {fmt(firsts)}; later (each page's max) {fmt(laters)}; "
            f"longest task of a detection (each page's max) {fmt(longest)}; "
            f"idle slice (max) {fmt(slices)}; content scripts' evaluation {fmt(inject)}; first detections over 15 ms: "
            + (", ".join(f"{n} {v:.1f}" for v, n in over) or "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages-dir", default="", help="a folder of saved pages with MANIFEST.json (default: tests/shops)")
    parser.add_argument("--pages", default="", help="only these pages of the manifest (comma-separated)")
    parser.add_argument("--repeat", type=int, default=3, help="page loads per page (the first detection's median is reported)")
    parser.add_argument("--wait", type=float, default=3.5, help="seconds after load (the idle walk and later detections)")
    parser.add_argument("--extension", default=str(EXTENSION), help="the unpacked extension (default: static/extension)")
    parser.add_argument("--json", default="", help="write per-page figures here")
    args = parser.parse_args()
    args.pages_dir = Path(args.pages_dir).resolve() if args.pages_dir else None
    args.extension = Path(args.extension).resolve()
    results = asyncio.run(run(args))
    line = summary(results)
    print(f"machine: {machine()}; load average {load_average()}")
    print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results, "summary": line}, indent=1))


if __name__ == "__main__":
    main()
