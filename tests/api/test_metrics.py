"""GET /metrics: what an autoscaler scrapes, from SQL and Redis, and only for those allowed to see it."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conftest import image_bytes


def scrape(client, **kwargs) -> dict:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}, **kwargs)
    assert response.status_code == 200, response.status_code
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_jobs_queue_depth_and_durations(api, client, work_queue):
    api.submit("enhance", image_bytes())
    before = scrape(client)
    assert before[("pixelforge_queue_depth", (("queue", "pixelforge"),))] == 1
    assert before[("pixelforge_jobs_active", (("operation", "enhance"), ("status", "queued")))] == 1

    work_queue()
    after = scrape(client)
    assert after[("pixelforge_queue_depth", (("queue", "pixelforge"),))] == 0
    assert after[("pixelforge_jobs_total", (("engine", "classical"), ("operation", "enhance"),
                                            ("status", "done")))] == 1
    assert after[("pixelforge_job_run_seconds_count", (("operation", "enhance"),))] == 1
    assert after[("pixelforge_job_queue_wait_seconds_bucket", (("le", "+Inf"), ("operation", "enhance")))] == 1
    assert ("pixelforge_workers_live", ()) in after
    assert after[("pixelforge_worker_jobs_total", (("device", "cpu"), ("engine", "classical"),
                                                   ("operation", "enhance"), ("status", "done")))] == 1


def test_metrics_are_hidden_from_other_hosts_unless_a_token_is_set(app, client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    app.config["METRICS_TOKEN"] = "scrape-secret"
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=remote).status_code == 404
    assert client.get("/metrics", environ_base=remote,
                      headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", environ_base=remote,
                      headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
