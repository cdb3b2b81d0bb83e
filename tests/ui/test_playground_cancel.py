"""Cancel in the playground: its answer and the run's own last update may reach the page in either order, and
whichever comes last must still say the job ended (a "Cancelling…" arriving after the run's "Cancelled" left the
page stuck on it: seen in CI) and leave no Cancel button beside it (a "Cancelled" panel with the button still
showing: seen in CI too)."""
from __future__ import annotations

import types

from conftest import image_bytes


def test_cancel_answers_with_the_final_panel_so_the_order_of_updates_does_not_matter(app, make_user, tmp_path):
    from pixelforge.operations import get_operation
    from ui.playground import Playground
    from ui.uploads import UploadRules, UploadStore

    user_id = make_user(plan="pro", credits=10).id
    uploads = UploadStore(tmp_path / "uploads", UploadRules.from_config(app.config))
    playground = Playground(app, tmp_path / "results", uploads)
    request = types.SimpleNamespace(username=str(user_id), session_hash="browser-tab")
    operation = get_operation("upscale")
    values = [None] * len(operation.params)  # every parameter at its default
    run = playground.run(operation, request, str(uploads.save(user_id, image_bytes())), None, values)
    assert 'data-state="sending"' in next(run)[0]
    assert 'data-state="queued"' in next(run)[0]  # submitted, no worker here: the run follows a queued job

    answer, button = playground._cancel_handler("upscale")(request)
    assert 'data-state="cancelled"' in answer and "1 credit was refunded" in answer
    assert button == {"__type__": "update", "visible": False}
    last = list(run)[-1]  # the run's own last update, which may reach the page first
    assert 'data-state="cancelled"' in last[0] and "1 credit was refunded" in last[0]
    assert last[2] == {"__type__": "update", "visible": False}
