"""Credits under concurrency: never negative, charged once, and the ledger always sums to the balance."""
from concurrent.futures import ThreadPoolExecutor

from conftest import image_bytes


def test_parallel_submissions_never_overdraw(app, make_user, api_for):
    from pixelforge.credits import ledger_total

    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 1000}}
    user = make_user(credits=10)
    caller = api_for(user)
    image = image_bytes()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: caller.submit("enhance", image).status_code, range(50)))
    assert statuses.count(202) == 10 and statuses.count(402) == 40
    assert caller.user.credits == 0 == ledger_total(user.id)


def test_ledger_records_grant_charge_and_refund(app, api, work_queue, monkeypatch):
    from pixelforge.credits import ledger, ledger_total

    monkeypatch.setattr("workers.engines.enhance.classical_enhance", lambda inp: 1 / 0)
    api.submit("enhance", image_bytes())
    work_queue()
    reasons = [entry.reason for entry in reversed(ledger(api.user_id))]
    assert reasons == ["grant", "charge", "refund"]
    assert ledger_total(api.user_id) == api.user.credits == 10
