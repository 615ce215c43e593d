"""`telemetra` — the one command line. The Makefile and the supervisor call these same commands.

Every command exits 0 on success and non-zero with a one-line reason on failure.
Config is read once here (conf/defaults.yaml + environment) and passed down.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipelines.config import ConfigError, Settings, configure_logging, load_settings

app = typer.Typer(
    help="Telemetra: live-stream analytics lakehouse "
    "(Kafka -> Spark -> Delta -> DuckDB/Streamlit).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cluster_app = typer.Typer(
    help="A Spark standalone cluster on this machine, and spark-submit to it.", no_args_is_help=True
)
kafka_app = typer.Typer(
    help="The local single-node Kafka broker and its topics.", no_args_is_help=True
)
eval_app = typer.Typer(
    help="How good the lake's findings are, against labels you give.", no_args_is_help=True
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(cluster_app, name="cluster")
app.add_typer(eval_app, name="eval")
s3_app = typer.Typer(
    help="A local S3 server to try the lake on object storage.", no_args_is_help=True
)
app.add_typer(s3_app, name="s3")
console = Console()


class UserError(RuntimeError):
    """A failure to report as one line, without a traceback."""


def _settings(**overrides) -> Settings:
    settings = load_settings(**overrides)
    configure_logging(settings)
    return settings


def _writable_lake(settings: Settings) -> Settings:
    """Fail in one line, naming the path, when the lake (or the checkpoints) cannot be
    written. Local paths only: an object store answers on its first write, and
    :func:`main` turns Spark's failure there into one line too."""
    roots = {"lake_root": settings.lake_root, "checkpoint_root": settings.checkpoint_root}
    for what, root in roots.items():
        if not root or ("://" in root and not root.startswith("file:")):
            continue
        path = Path(root.removeprefix("file:"))
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".telemetra-write-check-"):
                pass
        except OSError as exc:
            raise UserError(f"{what} {path} is not writable: {exc.strerror or exc}") from None
    return settings


# ---- kafka ---------------------------------------------------------------------------------
@kafka_app.command("start")
def kafka_start() -> None:
    """Start the local broker (under the supervisor) and create the four topics."""
    from pipelines.jobs import kafka_ready
    from pipelines.ops import kafka_local, stack

    settings = _settings()
    if stack.is_local_kafka(settings):
        stack.ensure_supervisord(settings)
        stack.start(settings, "kafka")
    else:
        console.print(
            f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}: "
            "not local, not starting a broker"
        )
    kafka_ready.wait_until_ready(settings)
    created = kafka_local.ensure_topics(settings)
    console.print(
        f"Kafka at {settings.kafka_bootstrap_servers} answers; "
        f"topics created: {created or 'none (all exist)'}"
    )


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker."""
    from pipelines.ops import stack

    settings = _settings()
    if not stack.supervisord_running(settings):
        console.print("the local broker is not running")
        return
    console.print(stack.stop(settings, "kafka"))


@kafka_app.command("status")
def kafka_status() -> None:
    """Say plainly whether the broker answers (exit 1 if not)."""
    from pipelines.jobs import kafka_ready

    settings = _settings()
    if not kafka_ready.broker_answers(settings.kafka_bootstrap_servers):
        raise UserError(f"Kafka at {settings.kafka_bootstrap_servers} does not answer")
    console.print(f"Kafka at {settings.kafka_bootstrap_servers} answers")


@kafka_app.command("topics")
def kafka_topics(
    create: Annotated[bool, typer.Option(help="Create missing topics first.")] = False,
) -> None:
    """List the event topics with partitions and message counts."""
    from pipelines.ops import kafka_local

    settings = _settings()
    if create:
        kafka_local.ensure_topics(settings)
    table = Table("topic", "partitions", "messages")
    for row in kafka_local.describe_topics(settings):
        table.add_row(row["topic"], str(row["partitions"]), str(row["messages"]))
    console.print(table)


@kafka_app.command("consume")
def kafka_consume(
    topic: Annotated[
        str | None, typer.Option(help="Topic (default: all four event topics).")
    ] = None,
    max_messages: Annotated[int, typer.Option("--max", help="Stop after N messages.")] = 10,
    timeout: Annotated[float, typer.Option(help="Stop after this many idle seconds.")] = 10.0,
) -> None:
    """Print events from the beginning of the topics, one line each."""
    from pipelines.ops import kafka_local

    settings = _settings()
    topics = [topic] if topic else settings.topics
    n = 0
    for t, part, offset, value in kafka_local.consume(settings, topics, max_messages, timeout):
        text = value.decode("utf-8", errors="replace") if value is not None else "<null>"
        print(f"{t}[{part}]@{offset} {text[:500]}")
        n += 1
    if n == 0:
        raise UserError(f"no messages on {', '.join(topics)} within {timeout:.0f}s")


@kafka_app.command("run", hidden=True)
def kafka_run() -> None:
    """Run the local broker in the foreground (what the supervisor runs)."""
    from pipelines.ops import kafka_local

    settings = _settings()
    cmd = kafka_local.prepare_broker(settings)
    os.execv(cmd[0], cmd)


# ---- events ------------------------------------------------------------------------------------
@app.command()
def produce(
    channels: Annotated[
        str | None, typer.Option(help="Comma-separated stream ids (PRODUCER_CHANNELS).")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="Events/s of event time per channel (PRODUCER_RATE_PER_SEC)."),
    ] = None,
    count: Annotated[int | None, typer.Option(help="Stop after N events.")] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of event time to produce.")
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(help="Generate the whole span ending now and send it as fast as possible."),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed: --fast runs repeat; a paced run adds its start time."),
    ] = None,
    bad_ratio: Annotated[
        float | None, typer.Option(help="Fraction of bad records to mix in.")
    ] = None,
    truth_file: Annotated[
        Path | None, typer.Option(help="Write injected moments (ground truth) as JSONL.")
    ] = None,
    processes: Annotated[int, typer.Option(help="Producer processes (for high rates).")] = 1,
) -> None:
    """Synthetic live-stream events to Kafka: paced to the wall clock, or --fast."""
    from pipelines.sim.producer import produce as run_producer

    settings = _settings()
    stats = run_producer(
        settings,
        channels=channels.split(",") if channels else settings.channels,
        rate=rate if rate is not None else settings.producer_rate_per_sec,
        count=count,
        duration=duration,
        fast=fast,
        seed=seed if seed is not None else settings.producer_seed,
        bad_ratio=bad_ratio if bad_ratio is not None else settings.producer_bad_ratio,
        truth_file=truth_file,
        processes=processes,
        progress=sys.stderr.isatty(),
    )
    console.print(stats)


@app.command()
def replay(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="Event or chat log files, in order."),
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto | jsonl | twitchdownloader | chat-downloader | irc | chatterino "
            "(auto: from each file's content).",
        ),
    ] = "auto",
    stream_id: Annotated[
        str | None,
        typer.Option(help="The stream of every event (default: the log's channel)."),
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Replay at this multiple of the original pace.")
    ] = 1.0,
    max_speed: Annotated[
        bool, typer.Option("--max-speed", help="Send as fast as possible.")
    ] = False,
    shift_to_now: Annotated[
        bool, typer.Option("--shift-to-now", help="Shift timestamps so the last event is now.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit non-zero when any line was skipped.")
    ] = False,
) -> None:
    """Publish event files or chat logs; lines left out are reported by line number.

    Exits non-zero when a file sent nothing, or with --strict when any line was skipped."""
    from pipelines.sources.chat_logs import FORMATS, FormatError
    from pipelines.sources.replay import replay as run_replay

    if format != "auto" and format not in FORMATS:
        raise UserError(f"unknown --format {format!r}; use auto or one of {', '.join(FORMATS)}")
    settings = _settings()
    for file in files:
        try:
            stats = run_replay(
                settings,
                file,
                speed=speed,
                max_speed=max_speed,
                shift_to_now=shift_to_now,
                fmt=format,
                stream_id=stream_id,
            )
        except FormatError as exc:
            raise UserError(str(exc)) from None
        console.print(f"{file}: {stats}")
        if stats.sent == 0:
            raise UserError(f"nothing sent from {file}")
        if strict and stats.skipped:
            raise UserError(f"{len(stats.skipped)} lines of {file} skipped (--strict)")


@app.command()
def twitch(
    channels: Annotated[
        str, typer.Option(help="Comma-separated Twitch channels to follow (logins).")
    ],
) -> None:
    """Follow live Twitch chat into the event topics (anonymous, read-only), until Ctrl-C.

    The server is twitch_irc_url (default ircs://irc.chat.twitch.tv:6697)."""
    from pipelines.sources.twitch_live import follow

    names = [c.strip() for c in channels.split(",") if c.strip()]
    if not names:
        raise UserError("--channels names no channel")
    try:
        stats = follow(_settings(), names)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    console.print(stats)


# ---- pipeline ----------------------------------------------------------------------------------
@app.command()
def run(
    layer: Annotated[str, typer.Argument(help="bronze | silver | gold | hot | all")],
    mode: Annotated[str, typer.Option(help="stream | batch")] = "stream",
    trigger: Annotated[
        str | None, typer.Option(help="availableNow | processing:10s (default from config)")
    ] = None,
    allow_data_loss: Annotated[
        bool,
        typer.Option(
            "--allow-data-loss", help="Continue when Kafka offsets aged out (the gap is logged)."
        ),
    ] = False,
    gate: Annotated[
        bool,
        typer.Option(
            "--gate",
            help="Batch only: stop before writing a layer whose input fails a critical "
            "expectation.",
        ),
    ] = False,
) -> None:
    """The pipeline: one layer or all of them, in one Spark application."""
    from pipelines.jobs import runner
    from pipelines.jobs.spark import build_spark

    if mode not in ("stream", "batch"):
        raise UserError(f"--mode must be stream or batch, got {mode!r}")
    settings = _settings(**({"kafka_fail_on_data_loss": False} if allow_data_loss else {}))
    _writable_lake(settings)
    runner.layers_for(layer)
    parsed = runner.parse_trigger(trigger, settings)
    spark = build_spark(settings, app_name=f"telemetra-{layer}")
    try:
        if mode == "batch":
            if gate:
                from pipelines.quality.quality_job import run_batch_gated as batch
            else:
                batch = runner.run_batch
            for table, rows in batch(spark, settings, layer).items():
                console.print(f"{table}: {rows}")
        elif gate:
            raise UserError(
                "--gate applies to --mode batch; streaming jobs record quality, never stop on it"
            )
        else:
            runner.run_stream(spark, settings, layer, parsed)
    finally:
        spark.stop()


@app.command()
def maintain(
    retention_hours: Annotated[
        float, typer.Option(help="VACUUM retention (Delta's safe minimum is 168).")
    ] = 168.0,
    table: Annotated[
        list[str] | None,
        typer.Option(help="Only this table, as layer/name (e.g. gold/moments); repeatable."),
    ] = None,
) -> None:
    """OPTIMIZE and VACUUM every table of the lake (or the --table ones)."""
    from pipelines.jobs.maintain import maintain_lake
    from pipelines.jobs.spark import build_spark

    settings = _writable_lake(_settings())
    spark = build_spark(settings, app_name="telemetra-maintain")
    try:
        for line in maintain_lake(spark, settings, retention_hours, only=table or ()):
            console.print(line)
    finally:
        spark.stop()


@app.command()
def quality(
    layer: Annotated[str, typer.Option(help="bronze | silver | gold | all")] = "all",
    every: Annotated[
        float | None,
        typer.Option(help="Run on a schedule, every this many seconds, until stopped."),
    ] = None,
    start_after: Annotated[
        float, typer.Option(help="With --every: seconds to wait before the first run.")
    ] = 0.0,
) -> None:
    """Great Expectations validation of the lake: Data Docs under <lake>/reports, a row per table in
    gold/quality_runs, exit 1 when a critical expectation fails."""
    from pipelines.quality.quality import run_quality
    from pipelines.quality.quality_job import quality_loop, quality_spark

    settings = _writable_lake(_settings())
    if layer not in ("bronze", "silver", "gold", "all"):
        raise UserError(f"--layer must be bronze, silver, gold or all; got {layer!r}")
    if every is not None:
        quality_loop(settings, every, start_after_s=start_after)
        return
    spark = quality_spark(settings)
    try:
        report = run_quality(spark, settings, layer)
    finally:
        spark.stop()
    table = Table(*("suite", "status", "passed", "critical failed", "warnings", "rows"))
    for row in report.summary_rows():
        table.add_row(*row[:6])
    console.print(table)
    for name in report.critical_failures:
        console.print(f"[red]FAILED[/red] {name}")
    for name in report.warnings:
        console.print(f"[yellow]warning[/yellow] {name}")
    console.print(f"report: {report.report_path}")
    if not report.success:
        raise UserError(
            f"quality {layer}: {len(report.critical_failures)} critical expectation(s) failed"
        )


@eval_app.command("moments")
def eval_moments(
    labels: Annotated[
        Path, typer.Option(help="Labelled intervals: CSV, JSON or JSON Lines (start, end, ...).")
    ],
    stream: Annotated[
        str | None, typer.Option(help="Only this stream (and the stream of unnamed labels).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Seconds a moment may miss a label by and still match.")
    ] = 30.0,
    top: Annotated[int, typer.Option(help="k of precision@k (per stream).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Precision, recall, F1 and precision@k of gold/moments against labelled intervals."""
    import json

    from pipelines.serving import moment_eval
    from pipelines.serving.queries import GoldQueries

    settings = _settings()
    queries = GoldQueries(settings.lake_root, settings.storage_options)
    broadcasts = queries.broadcast_summaries(stream)

    def broadcast_start(stream_id: str, broadcast_id: str | None):
        rows = broadcasts[broadcasts["stream_id"] == stream_id]
        if broadcast_id:
            rows = rows[rows["broadcast_id"] == broadcast_id]
        starts = rows["started_at"].dropna()
        return starts.iloc[0] if len(starts) == 1 else None

    try:
        labelled = moment_eval.load_labels(labels, stream, broadcast_start)
    except moment_eval.LabelError as exc:
        raise UserError(str(exc)) from None
    frame = queries.moments(stream_ids=[stream] if stream else None)
    if frame.attrs.get("message") and not as_json:
        console.print(frame.attrs["message"])
    result = moment_eval.evaluate(
        moment_eval.moments_from_rows(frame.to_dict("records")), labelled, tolerance, top
    )
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    table = Table("stream", "moments", "labels", "precision", "recall", "F1")
    rows = {**result.by_stream, "all": result.overall}
    for name, s in rows.items():
        table.add_row(name, str(s.detected), str(s.labelled), f"{s.precision:.2f}",
                      f"{s.recall:.2f}", f"{s.f1:.2f}")  # fmt: skip
    console.print(table)
    at_k = "n/a" if result.precision_at_k is None else f"{result.precision_at_k:.2f}"
    console.print(f"precision@{top} (mean over streams): {at_k}; tolerance {tolerance:g} s")


@app.command("app")
def app_cmd(
    port: Annotated[int | None, typer.Option(help="Port (default from config, 8501).")] = None,
) -> None:
    """The Streamlit app (binds to 127.0.0.1 by default)."""
    from pipelines.ops.app_runner import run_app

    raise typer.Exit(run_app(_settings(), port))


@app.command("api")
def api_cmd(
    port: Annotated[int | None, typer.Option(help="Port (default from config, 8000).")] = None,
) -> None:
    """The HTTP/WebSocket API over the lake (binds to 127.0.0.1 by default; docs at /docs)."""
    from pipelines.serving.api import ConfigRefused, serve

    try:
        serve(_settings(), port)
    except ConfigRefused as exc:
        console.print(f"[red]telemetra api: {exc}[/red]")
        raise typer.Exit(2) from None


# ---- Spark standalone cluster -----------------------------------------------------------------
# ---- s3 -------------------------------------------------------------------------------------
@s3_app.command("serve")
def s3_serve(
    port: Annotated[int, typer.Option(help="S3 port on 127.0.0.1.")] = 8333,
    bucket: Annotated[str, typer.Option(help="Bucket to create (3-63 characters).")] = "lake",
) -> None:
    """Serve S3 on 127.0.0.1 from SeaweedFS (`make seaweedfs` builds it), data under
    <run_dir>/s3, in the foreground until Ctrl-C. Any credentials are accepted: for trying
    things on this machine, not for keeping data."""
    from pipelines.ops.s3_local import LocalS3

    server = LocalS3(_settings().run_path / "s3")
    server.ports["s3.port"] = port
    with server:
        server.create_bucket(bucket)
        console.print(
            f"S3 at {server.endpoint}, bucket {bucket!r}. In another shell:\n"
            f"  export AWS_ENDPOINT_URL={server.endpoint} AWS_ACCESS_KEY_ID=local "
            f"AWS_SECRET_ACCESS_KEY=local\n"
            f"  export TELEMETRA_LAKE_ROOT=s3a://{bucket}/telemetra",
            soft_wrap=True,
        )
        try:
            server.process.wait()
        except KeyboardInterrupt:
            console.print("stopping")


@cluster_app.command("up")
def cluster_up(
    workers: Annotated[int, typer.Option(help="Number of workers.")] = 1,
    worker_cores: Annotated[int, typer.Option(help="Cores per worker.")] = 1,
    worker_memory: Annotated[str, typer.Option(help="Memory per worker.")] = "2g",
    port: Annotated[int, typer.Option(help="Master port.")] = 7077,
    ui_port: Annotated[int, typer.Option(help="Master UI port; worker i's UI: this + i.")] = 8080,
) -> None:
    """Start a master (spark://127.0.0.1:7077, UI :8080) and workers from pyspark's spark-class."""
    from pipelines.ops import cluster

    state = cluster.cluster_up(
        _settings(), workers, worker_cores, worker_memory, master_port=port, ui_port=ui_port
    )
    console.print(
        f"master {state['url']} with {len(state['workers'])} worker(s); UI http://127.0.0.1:{ui_port}"
    )


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the master and workers."""
    from pipelines.ops import cluster

    stopped = cluster.cluster_down(_settings())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@cluster_app.command("submit")
def cluster_submit(
    layer: Annotated[str, typer.Argument(help="bronze | silver | gold | all")] = "all",
    master: Annotated[str, typer.Option(help="Spark master URL.")] = "spark://127.0.0.1:7077",
    mode: Annotated[str, typer.Option(help="stream | batch")] = "stream",
    trigger: Annotated[str | None, typer.Option(help="availableNow | processing:10s")] = None,
    conf: Annotated[
        list[str] | None, typer.Option("--conf", help="Extra Spark conf KEY=VALUE (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the spark-submit line only.")
    ] = False,
) -> None:
    """spark-submit a layer's entry point to a master, jars passed by path (no resolution)."""
    import shlex
    import subprocess

    from pipelines.ops import cluster

    cmd = cluster.submit_command(_settings(), layer, master, mode, trigger, extra_conf=conf or [])
    console.print(shlex.join(cmd), soft_wrap=True)
    if not dry_run:
        raise typer.Exit(subprocess.call(cmd))


# ---- local stack -------------------------------------------------------------------------------
@app.command()
def up(
    producer: Annotated[bool, typer.Option(help="Also run the live producer.")] = True,
) -> None:
    """Bring up the whole local stack under the supervisor: broker, pipeline, producer, app, API."""
    from pipelines.jobs import kafka_ready
    from pipelines.ops import kafka_local, stack

    settings = _writable_lake(_settings())
    stack.ensure_supervisord(settings)
    for prog in stack.programs(settings):
        # The topics exist before the event source (demo producer or live chat) writes.
        if prog.name in ("producer", "twitch"):
            kafka_ready.wait_until_ready(settings)
            kafka_local.ensure_topics(settings)
            if not producer:
                continue
        console.print(f"starting {prog.name} ...")
        stack.start(settings, prog.name)
    console.print(stack.status(settings))
    console.print(
        f"\nDashboard: http://{settings.app_host}:{settings.app_port}  "
        "(the demo stream shows within a minute of `up` on 2 cores; "
        "`telemetra health` checks the stack, `telemetra logs` shows logs)"
    )
    console.print(f"API: http://{settings.api_host}:{settings.api_port}/docs")


@app.command()
def down() -> None:
    """Stop everything the local stack runs."""
    from pipelines.ops import stack

    settings = _settings()
    console.print("stopped" if stack.shutdown(settings) else "the local stack was not running")


@app.command()
def ps() -> None:
    """Status of each program of the local stack."""
    from pipelines.ops import stack

    console.print(stack.status(_settings()))


@app.command()
def logs(
    name: Annotated[
        str | None, typer.Argument(help="kafka | pipeline | producer | app (default: all)")
    ] = None,
    lines: Annotated[int, typer.Option("-n", "--lines")] = 40,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
) -> None:
    """Show (or follow) the logs of the local stack."""
    from pipelines.ops import stack

    settings = _settings()
    names = [name] if name else [p.name for p in stack.programs(settings)]
    files = [stack.log_file(settings, n) for n in names]
    missing = [str(f) for f in files if not f.exists()]
    if len(missing) == len(files):
        raise UserError(f"no logs yet: {', '.join(missing)}")
    cmd = [
        "tail",
        f"-n{lines}",
        *(["-F"] if follow else []),
        *[str(f) for f in files if f.exists()],
    ]
    os.execvp("tail", cmd)


@app.command()
def health() -> None:
    """Check the broker, each program, the app and the freshness of gold (exit 1 if unhealthy)."""
    from pipelines.ops.health import check_health

    settings = _settings()
    ok = True
    for check in check_health(settings):
        mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark:>20}  {check.name}: {check.detail}")
        ok &= check.ok
    if not ok:
        raise UserError("unhealthy (see above)")


def _from_spark(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("pyspark", "py4j"))


def _one_line(exc: Exception) -> str:
    """The reason, without the JVM stack trace Spark's errors carry (hundreds of lines):
    the first line, and the error class Spark names, if it names one further down."""
    java = getattr(exc, "java_exception", None)  # py4j's Py4JJavaError
    text = str(java.toString() if java is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"^[\w.$]+(Exception|Error): (?=\[)", "", first)  # the Java class name
    if _from_spark(exc) and "[" not in first:
        match = re.search(r"\[([A-Z][A-Z0-9_.]+)\][^\n]*", text)
        if match:
            first = match.group(0)
    return first[:500]


def main() -> None:
    """Console-script entry: one-line errors instead of tracebacks for expected failures."""
    try:
        app()
    except (ConfigError, UserError, RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"telemetra: {_one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if not _from_spark(exc):
            raise
        print(f"telemetra: Spark failed: {_one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
