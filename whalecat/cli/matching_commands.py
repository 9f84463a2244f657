"""The commands that match photos and train models: identify, train, models and evaluate."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from whalecat.cli.common import ProgressPrinter, csv_row, open_catalogue
from whalecat.text import counted


def cmd_identify(args) -> int:
    from whalecat.catalogue.records import list_whales
    from whalecat.identification import Identifier
    from whalecat.imaging.io import ImageError, open_photo
    from whalecat.importing.files import find_files, no_photos_message
    from whalecat.matching.device import select_device
    from whalecat.progress import Progress

    if args.top < 1:
        raise ValueError(f"--top must be at least 1, not {args.top}")
    if args.unidentified:
        return _identify_unidentified(args)
    if not args.photos:
        raise ValueError("name a photo or a folder of them to identify, or give --unidentified")
    photos = find_files(args.photos).photos
    if not photos:
        raise ValueError(no_photos_message(args.photos))
    if len(photos) == 1:
        open_photo(photos[0])  # reject an unusable photo before TensorFlow takes seconds to load
    failed = 0
    with open_catalogue(args) as catalogue:
        with catalogue.session() as session:
            whales = sum(1 for whale in list_whales(session) if whale.photo_count)
            if not whales:
                raise ValueError(
                    f"the catalogue at {catalogue.folder} has no confirmed whales to match against; "
                    "import labelled photos (whalecat import --labels) or confirm photos in the window"
                )
        select_device(args.device)
        identifier = Identifier(catalogue, args.method, args.device, find_fluke=not args.whole_photo)
        # On a terminal the candidates themselves show how far it got.
        progress = ProgressPrinter() if len(photos) > 1 and not sys.stdout.isatty() else None
        if args.csv:
            print("Image,Id")
        for number, photo in enumerate(photos):
            if progress is not None:
                progress(number, len(photos), photo.name)
            started = time.perf_counter()
            # The first photo prepares the catalogue: on a large one, a minute of embedding and calibrating.
            preparing = Progress(ProgressPrinter()) if number == 0 else None
            try:
                candidates = identifier.identify_file(photo, top=args.top, progress=preparing)
            except ImageError as exc:
                if len(photos) == 1:
                    raise
                # One bad file on a card must not stop the others.
                failed += 1
                print(f"failed: {exc}", file=sys.stderr)
                if args.json:  # a line for every photo, so that a script reading the output gets the failure too
                    print(json.dumps({"photo": str(photo), "error": exc.reason}), flush=True)
                continue
            seconds = time.perf_counter() - started
            _print_candidates(args, photo, candidates, seconds, whales, number, identifier.model_version)
        if progress is not None:
            progress(len(photos), len(photos), "")
    if failed:
        print(f"{counted(failed, 'photo')} of {len(photos)} could not be identified", file=sys.stderr)
    return 1 if failed else 0


def _identify_unidentified(args) -> int:
    """Identify the catalogue's unconfirmed photos, store their suggestions, and print a summary."""
    from whalecat.identification import Identifier, identify_unidentified
    from whalecat.matching.device import select_device
    from whalecat.progress import Progress

    if args.photos:
        raise ValueError("--unidentified identifies the catalogue's own photos; leave out the photo names")
    if args.json or args.csv:
        raise ValueError("--unidentified stores suggestions and prints a summary; leave out --json and --csv")
    try:
        with open_catalogue(args) as catalogue:
            select_device(args.device)
            identifier = Identifier(catalogue, args.method, args.device)
            report = identify_unidentified(identifier, Progress(ProgressPrinter()), top=args.top)
    except KeyboardInterrupt:
        # Each photo's suggestions are committed on their own, so none is left half-written.
        print("\nwhalecat identify: interrupted; the suggestions stored before are kept", file=sys.stderr)
        return 130
    print(report.summary())
    for name, reason in report.failed:
        print(f"failed: {name}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def _print_candidates(
    args, photo: Path, candidates, seconds: float, whales: int, number: int, model: str | None
) -> None:
    """Print one photo's candidates as JSON, as a CSV row or as text, following the options."""
    from whalecat.matching.base import NEW_WHALE
    from whalecat.matching.methods import SHORTLIST
    from whalecat.matching.ranking import UNFITTED_NOTE, shown_confidence, unfitted

    if args.json:
        rows = [
            {"rank": rank, "label": candidate.label, "score": round(float(candidate.score), 6),
             "confidence": _rounded(shown_confidence(rank, candidate))}
            for rank, candidate in enumerate(candidates, start=1)
        ]
        print(json.dumps({"photo": str(photo), "candidates": rows, "seconds": seconds}), flush=True)
        return
    if args.csv:
        print(csv_row(photo.name, " ".join(candidate.label for candidate in candidates)), flush=True)
        return
    if number == 0 and len(candidates) < args.top and args.method == "default" and whales + 1 > len(candidates):
        print(f"{len(candidates)} candidates: the default method ranks only the {SHORTLIST} whales "
              "most similar by embedding, and new_whale", file=sys.stderr)
    if number == 0 and unfitted(candidates):
        print(UNFITTED_NOTE, file=sys.stderr)
    if number > 0:
        print()
    using = f", model {model}" if model else ""
    print(f"{photo}: top {len(candidates)} by method {args.method}{using} ({seconds:.2f} s)")
    width = max(len(candidate.label) for candidate in candidates) if candidates else 0
    for rank, candidate in enumerate(candidates, start=1):
        confidence = shown_confidence(rank, candidate)
        if candidate.label == NEW_WHALE:
            # new_whale's score is the threshold, so it is labelled as one, not as a score.
            if confidence is None:
                note = "; the whales below scored under it" if rank < len(candidates) else ""
            else:
                note = f"  confidence {confidence:.0%} that it is a new whale"
            print(f"{rank}. {candidate.label:<{width}}  threshold {candidate.score:.3f}{note}")
            continue
        suffix = f"  confidence {confidence:.0%}" if confidence is not None else ""
        print(f"{rank}. {candidate.label:<{width}}  score {candidate.score:.3f}{suffix}", flush=True)


def _rounded(confidence: float | None) -> float | None:
    return None if confidence is None else round(confidence, 4)


def cmd_train(args) -> int:
    # oneDNN trained the seed CNN four times faster on CPU. It stays off in processes that
    # hold other work (see whalecat.matching.device), but a training process risks only itself.
    from whalecat.matching.device import ONEDNN_VARIABLE

    os.environ.setdefault(ONEDNN_VARIABLE, "1")
    from whalecat.training import train_catalogue_model
    from whalecat.progress import Progress

    if args.report == "json":
        from whalecat.training_process import ORPHAN_EXIT_AFTER_S, serve

        with open_catalogue(args) as catalogue:
            return serve(catalogue, args.model, args.epochs, args.device, args.activate,
                         orphan_exit_after=ORPHAN_EXIT_AFTER_S)
    with open_catalogue(args) as catalogue:
        result = train_catalogue_model(
            catalogue,
            kind=args.model,
            epochs=args.epochs,
            device=args.device,
            activate=args.activate,
            progress=Progress(ProgressPrinter()),
        )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(result.summary())
    return 0


def cmd_models(args) -> int:
    from whalecat.matching.versions import BUNDLED_VERSION, list_versions, set_active_version

    with open_catalogue(args) as catalogue:
        if args.action == "activate":
            next_step = (
                f"run 'whalecat --catalogue {catalogue.folder} models' to list the versions "
                f"('{BUNDLED_VERSION}' is the model shipped with whalecat)"
            )
            if not args.version:
                raise ValueError(f"models activate needs a VERSION; {next_step}")
            try:
                set_active_version(catalogue, args.version)
            except ValueError as exc:
                # set_active_version raises ValueError only when the version is not found.
                raise ValueError(f"{exc}; {next_step}") from exc
            print(f"active model: {args.version}")
            return 0
        for line in list_versions(catalogue):
            print(line)
    return 0


def cmd_evaluate(args) -> int:
    from whalecat.evaluation.runner import bundled_held_out_ids, evaluate, format_table
    from whalecat.matching.device import select_device
    from whalecat.progress import Progress

    methods = args.methods or ["seed", "keypoints", "embedding", "default"]
    for path in (args.labels, args.images):
        if not path.exists():
            raise ValueError(f"{path} not found")
    select_device(args.device)
    results = evaluate(
        args.labels,
        args.images,
        methods,
        Progress(ProgressPrinter()),
        seed_epochs=args.seed_epochs,
        device=args.device,
        only_ids=bundled_held_out_ids() if args.bundled_held_out else None,
        find_fluke=args.find_fluke,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0
