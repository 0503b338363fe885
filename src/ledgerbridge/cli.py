"""The `ledgerbridge` command.

Imports of the product (FastAPI, SQLAlchemy, uvicorn, the providers) happen inside the
commands, so `ledgerbridge --help` answers at once. A mistake in the set-up (a bad
setting, a database that cannot be reached, a port in use, an unknown tenant) is printed
as one line saying what is wrong and what to do, and the command exits with status 1;
`main` is the entry point that does this.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.engine import Engine

    from ledgerbridge.config import Settings
    from ledgerbridge.crypto import CredentialCipher
    from ledgerbridge.providers.base import ConnectorSettings
    from ledgerbridge.sandbox.base import SandboxContext
    from ledgerbridge.sync.runs import SyncRunInfo

app = typer.Typer(
    help="ledgerbridge: a unified Customers API for accounting platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(
    help="Local sandboxes of QuickBooks Online, Conductor and Intacct.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
keys_app = typer.Typer(help="API keys of the unified API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
environments_app = typer.Typer(
    help="Environments: each key and connection belongs to one.", no_args_is_help=True
)
app.add_typer(environments_app, name="environments")

ProviderOption = Annotated[
    str, typer.Option("--provider", help="A registered platform: qbo, qbd, intacct, …")
]
TenantOption = Annotated[str, typer.Option("--tenant", help="Realm, end user or company id.")]
ServerUrlOption = Annotated[
    str | None,
    typer.Option(
        help="Where the server runs; default the URL of the last `serve` from this folder, "
        "else LEDGERBRIDGE_PUBLIC_URL or http://HOST:PORT."
    ),
]


def main() -> None:
    """The entry point: runs the command; a set-up mistake is one line on stderr, exit 1."""
    from ledgerbridge.errors import ConfigurationError

    try:
        app(prog_name="ledgerbridge")
    except ConfigurationError as exc:
        _fail(str(exc))
    finally:
        # The command is done: let the exit skip the garbage collector's last pass over
        # every object of 800 modules (0.1-0.2 s of a short command such as a no-op sync).
        gc.freeze()


def _fail(message: str) -> NoReturn:
    typer.echo(f"ledgerbridge: error: {message}", err=True)
    raise SystemExit(1)


def _console() -> Console:
    from rich.console import Console

    return Console()


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    """The process settings (`--host`/`--port` over the environment's), logging set up."""
    from ledgerbridge.config import get_settings
    from ledgerbridge.observability.logs import configure_logging

    given = {"host": host, "port": port}
    settings = get_settings().model_copy(update={k: v for k, v in given.items() if v})
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _cipher(settings: Settings) -> CredentialCipher:
    from ledgerbridge.crypto import CredentialCipher, load_or_create_key

    return CredentialCipher(load_or_create_key(settings))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the unified API, the sandboxes (unless LEDGERBRIDGE_SANDBOXES=false) and the
    sync scheduler. Stops cleanly on SIGTERM or Ctrl+C; a second signal stops at once."""
    import signal
    import sys

    from ledgerbridge import serving
    from ledgerbridge.api.app import create_app
    from ledgerbridge.observability import metrics
    from ledgerbridge.runtime import started

    settings = _settings(host, port)
    sock = serving.bind(settings.host, settings.port)
    application = create_app(settings)
    _console().print(
        f"ledgerbridge listening on [bold]{settings.base_url}[/bold] "
        f"(API docs at {settings.base_url}/docs)"
    )
    serving.remember_url(settings)
    # uvicorn shuts down on SIGTERM, then raises it again: end with status 0, not -15.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started()
    try:
        serving.server(application, keep_alive_s=settings.keep_alive_s).run(sockets=[sock])
    finally:
        sock.close()
        metrics.process_exiting()


ConnectionArgument = Annotated[str, typer.Argument(help="The connection id (conn_...).")]


@app.command()
def sync(
    connection: ConnectionArgument,
    full: Annotated[bool, typer.Option("--full", help="Read every customer again.")] = False,
) -> None:
    """Run one sync of a connection now, in the foreground, with a progress bar."""
    import asyncio

    from ledgerbridge.errors import ConnectionPausedError, NeedsReauthorisationError, NotFoundError
    from ledgerbridge.runtime import connector_settings, open_main_database, started
    from ledgerbridge.sync.engine import SyncBusyError
    from ledgerbridge.sync.progress import run_table

    settings = _settings()
    main = open_main_database(settings)  # a sync needs no sandbox database
    console = _console()
    started()
    try:
        run = asyncio.run(
            _sync_now(
                main,
                _cipher(settings),
                connector_settings(settings),
                connection,
                full,
                console,
            )
        )
    except (SyncBusyError, NotFoundError, ConnectionPausedError, NeedsReauthorisationError) as exc:
        _fail(str(exc))
    finally:
        main.dispose()
    console.print(run_table(run))
    if run.error:
        console.print(f"[red]{run.error}[/red]")
        raise typer.Exit(1)


async def _sync_now(
    engine: Engine,
    cipher: CredentialCipher,
    connector_settings: ConnectorSettings,
    connection_id: str,
    full: bool,
    console: Console,
) -> SyncRunInfo:
    from ledgerbridge.connections import get_connection
    from ledgerbridge.db import read_transaction
    from ledgerbridge.sync.engine import SyncEnvironment, run_sync
    from ledgerbridge.sync.progress import sync_progress
    from ledgerbridge.sync.runs import ensure_runnable
    from ledgerbridge.sync.worker import new_http_client

    with read_transaction(engine) as conn:
        ensure_runnable(get_connection(conn, connection_id))  # as the API would refuse it
    async with new_http_client() as http:
        env = SyncEnvironment(
            engine=engine, cipher=cipher, http=http, connector_settings=connector_settings
        )
        with sync_progress(console) as progress:
            return await run_sync(env, connection_id, full=full, trigger="cli", progress=progress)


@app.command()
def worker() -> None:
    """Run only the sync scheduler and the webhook deliverer (any number of workers may run
    against one database).
    Stops cleanly on SIGTERM or Ctrl+C: runs in flight are recorded as interrupted and
    their leases released; a second signal stops at once."""
    import asyncio

    from ledgerbridge.observability import metrics
    from ledgerbridge.runtime import connector_settings, open_main_database, started
    from ledgerbridge.sync.scheduler import SchedulerSettings
    from ledgerbridge.sync.worker import run_worker
    from ledgerbridge.webhooks.delivery import DeliveryPolicy

    settings = _settings()
    main = open_main_database(settings)  # a worker serves no sandbox
    console = _console()
    console.print("ledgerbridge worker: running due syncs (Ctrl+C or SIGTERM to stop)")
    started()
    try:
        asyncio.run(
            run_worker(
                main,
                _cipher(settings),
                connector_settings(settings),
                SchedulerSettings.from_settings(settings),
                DeliveryPolicy.from_settings(settings),
            )
        )
    finally:
        main.dispose()
        metrics.process_exiting()
    console.print("stopped")


@app.command()
def connect(
    provider: ProviderOption,
    tenant: TenantOption,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Connect to this server's local sandbox.")
    ] = False,
    server_url: ServerUrlOption = None,
    environment: Annotated[
        str, typer.Option(help="The environment the connection belongs to.")
    ] = "dev",
) -> None:
    """Create a connection to a sandbox tenant and print its id."""
    from ledgerbridge.connect import connect_sandbox
    from ledgerbridge.errors import NotFoundError
    from ledgerbridge.runtime import open_databases
    from ledgerbridge.serving import last_url

    if not sandbox:
        raise typer.BadParameter(
            "only --sandbox connections are made here; connect a real QuickBooks Online "
            "company through GET /connections/qbo/authorize, or POST /connections",
            param_hint="--sandbox",
        )
    settings = _settings()
    databases = open_databases(settings)
    try:
        info = connect_sandbox(
            databases,
            _cipher(settings),
            provider=_provider(provider),
            tenant=tenant,
            server_url=server_url or last_url(settings),
            environment=environment,
        )
    except NotFoundError as exc:
        _fail(str(exc))
    except LookupError as exc:
        _fail(str(exc).strip("'\""))
    finally:
        databases.dispose()
    typer.echo(info.id)


@keys_app.command("create")
def keys_create(
    environment: Annotated[
        str, typer.Option(help="The environment the key belongs to (it sees only that one).")
    ] = "dev",
    scope: Annotated[
        str, typer.Option(help="`read` (connections, records, runs) or `full` (writes too).")
    ] = "full",
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
) -> None:
    """Create an API key and print it on the last line (it is shown only once)."""
    from ledgerbridge.db import utcnow, write_transaction
    from ledgerbridge.errors import NotFoundError
    from ledgerbridge.keys import create_api_key

    with _main_database() as engine:
        try:
            with write_transaction(engine) as conn:
                info, key = create_api_key(
                    conn, name=name, now=utcnow(), environment=environment, scope=scope
                )
        except (NotFoundError, ValueError) as exc:
            _fail(str(exc))
    typer.echo(f"key {info.id} ({info.scope}) of environment {info.environment}:", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    environment: Annotated[
        str | None, typer.Option(help="Only this environment's keys (default: all).")
    ] = None,
) -> None:
    """List API keys (never their secrets): id, prefix, environment, scope, use."""
    from ledgerbridge.db import read_transaction
    from ledgerbridge.keys import list_api_keys

    with _main_database() as engine, read_transaction(engine) as conn:
        keys = list_api_keys(conn, environment=environment)
    for key in keys:
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        typer.echo(
            f"{key.id}\t{key.prefix}...\t{key.environment}\t{key.scope}\t"
            f"created {key.created_at.isoformat()}\tlast used {used}\t{key.name}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (`keys list`).")]) -> None:
    """Revoke an API key at once: the next request made with it is refused (401)."""
    from ledgerbridge.db import write_transaction
    from ledgerbridge.errors import NotFoundError
    from ledgerbridge.keys import revoke_api_key

    with _main_database() as engine:
        try:
            with write_transaction(engine) as conn:
                revoke_api_key(conn, key_id, environment=None)
        except NotFoundError as exc:
            _fail(str(exc))
    typer.echo(f"revoked key {key_id}")


@environments_app.command("create")
def environments_create(name: Annotated[str, typer.Argument(help="e.g. staging.")]) -> None:
    """Create an environment (then `keys create --environment NAME`)."""
    from ledgerbridge.db import utcnow, write_transaction
    from ledgerbridge.environments import create_environment

    with _main_database() as engine:
        try:
            with write_transaction(engine) as conn:
                create_environment(conn, name, now=utcnow())
        except ValueError as exc:
            _fail(str(exc))
    typer.echo(name)


@environments_app.command("list")
def environments_list() -> None:
    """List the environments."""
    from ledgerbridge.db import read_transaction
    from ledgerbridge.environments import list_environments

    with _main_database() as engine, read_transaction(engine) as conn:
        environments = list_environments(conn)
    for environment in environments:
        typer.echo(f"{environment.name}\tcreated {environment.created_at.isoformat()}")


@contextmanager
def _main_database() -> Iterator[Engine]:
    """The main database (migrated), disposed of afterwards."""
    from ledgerbridge.runtime import open_main_database

    engine = open_main_database(_settings())
    try:
        yield engine
    finally:
        engine.dispose()


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Seed three sandbox companies, connect and sync them, and keep serving the API and the
    dashboard (its URL and how to sign in are printed first)."""
    import signal
    import time

    from ledgerbridge import demo as demo_module
    from ledgerbridge import serving
    from ledgerbridge.api.app import create_app
    from ledgerbridge.runtime import open_databases

    settings = _settings(host, port)
    sock = serving.bind(settings.host, settings.port)
    databases = open_databases(settings)
    state = demo_module.prepare(settings, databases)
    application = create_app(settings, databases)
    server = demo_module.start_server(settings, application, sock)
    serving.remember_url(settings)
    console = _console()
    demo_module.print_dashboard(settings, state, console)
    # The server runs in a thread, so this thread turns SIGTERM into Ctrl+C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        state = demo_module.connect_companies(
            settings, databases, application.state.cipher, console
        )
        demo_module.sync_all(databases, application.state.cipher, state, console)
        demo_module.print_welcome(settings, databases, state, console)
        while server.started and not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.should_exit = True
        time.sleep(0.5)
        databases.dispose()
        sock.close()


@contextmanager
def _sandbox_context(server_url: str | None = None) -> Iterator[SandboxContext]:
    """The sandbox database for one command, its connections closed when it ends."""
    from ledgerbridge.runtime import open_sandbox_database
    from ledgerbridge.sandbox.base import SandboxContext
    from ledgerbridge.serving import last_url

    settings = _settings()
    engine = open_sandbox_database(settings)
    try:
        yield SandboxContext(engine=engine, base_url=server_url or last_url(settings))
    finally:
        engine.dispose()


def _provider(name: str) -> str:
    """`name` if a platform of that name is registered (read now, not at import)."""
    from ledgerbridge.providers.registry import platform_names

    if name not in platform_names():
        raise typer.BadParameter(
            f"unknown provider {name!r}; choose from {', '.join(platform_names())}"
        )
    return name


@sandbox_app.command("seed")
def sandbox_seed(
    provider: ProviderOption,
    tenant: TenantOption,
    customers: Annotated[int, typer.Option(min=0, help="How many customers to add.")] = 100,
    seed: Annotated[int | None, typer.Option(help="Random seed for repeatable data.")] = None,
) -> None:
    """Create a sandbox tenant (if new) and fill it with realistic customers."""
    from ledgerbridge.providers.registry import get_platform
    from ledgerbridge.sync.progress import counting_progress

    sandbox = get_platform(_provider(provider)).sandbox
    console = _console()
    added = 0
    # In batches, so a large seed shows its progress; batch i uses seed + i, so the same
    # --seed and --customers give the same data.
    with (
        _sandbox_context() as context,
        counting_progress(console, f"seeding {provider} tenant {tenant}", customers) as bar,
    ):
        for index, start in enumerate(range(0, customers, SEED_BATCH) or [0]):
            count = min(SEED_BATCH, customers - start)
            result = sandbox.seed(context, tenant, count, None if seed is None else seed + index)
            added += result.customers
            bar.advance(result.customers)
    console.print(f"{provider} tenant {tenant}: added {added} customers")


SEED_BATCH = 2_000


@sandbox_app.command("create")
def sandbox_create(provider: ProviderOption, tenant: TenantOption) -> None:
    """Create an empty sandbox tenant (a realm, end user or company). Only this and `seed`
    create tenants: a request for an unknown one is answered as the platform answers it."""
    from ledgerbridge.providers.registry import get_platform

    with _sandbox_context() as context:
        get_platform(_provider(provider)).sandbox.create(context, tenant)
    _console().print(f"{provider} tenant {tenant} ready")


@sandbox_app.command("token")
def sandbox_token(
    provider: ProviderOption, tenant: TenantOption, server_url: ServerUrlOption = None
) -> None:
    """Print what a client needs to call a sandbox tenant now (tokens, keys, ids, URLs)."""
    from ledgerbridge.providers.registry import get_platform

    sandbox = get_platform(_provider(provider)).sandbox
    try:
        with _sandbox_context(server_url) as context:
            credentials = sandbox.credentials(context, tenant)
    except (LookupError, KeyError) as exc:
        _fail(str(exc).strip("'\""))
    for key, value in credentials.items():
        typer.echo(f"{key}={value}")


CONFIGURE_HELP = """KEY=VALUE pairs. Keys: requests_per_minute, max_concurrent (a number, or
none to turn the limit off), queue_when_busy (true: over max_concurrent, wait for a turn
instead of a 429), error_rate (0 to 1), error_statuses (e.g. [500,503]), latency_ms,
throttle_as_xml, token_lifetime_s, address_required, utc_offset (e.g. -07:00),
refresh_token_rotation_s, refresh_token_grace_s, refresh_token_single_use (QuickBooks
Online's refresh-token rotation), extra (a JSON object of provider-specific knobs)."""


@sandbox_app.command("configure", help=f"Change a sandbox tenant's knobs.\n\n{CONFIGURE_HELP}")
def sandbox_configure(
    provider: ProviderOption,
    tenant: TenantOption,
    values: Annotated[list[str], typer.Argument(help=CONFIGURE_HELP, show_default=False)],
) -> None:
    from ledgerbridge.sandbox.configure import TenantChangeError, configure_tenant

    try:
        with _sandbox_context() as context:
            settings = configure_tenant(context.engine, _provider(provider), tenant, values)
    except TenantChangeError as exc:
        _fail(str(exc))
    _console().print_json(data=settings.model_dump(mode="json"))


WEBHOOK_HELP = """KEY=VALUE pairs beyond the URL and token: payload_format (cloudevents or
legacy), batch_window_ms, timeout_s, retry_delays_s (e.g. [10,20,30]), max_attempts, and the
fault knobs drop_rate, duplicate_rate, delay_rate (0 to 1), max_delay_ms, seed."""


@sandbox_app.command(
    "webhook", help=f"Set the QuickBooks Online sandbox app's webhook.\n\n{WEBHOOK_HELP}"
)
def sandbox_webhook(
    url: Annotated[
        str | None, typer.Option("--url", help="Where to POST (e.g. .../notifications/qbo).")
    ] = None,
    verifier_token: Annotated[
        str | None, typer.Option("--verifier-token", help="Keys the intuit-signature.")
    ] = None,
    values: Annotated[
        list[str] | None, typer.Argument(help=WEBHOOK_HELP, show_default=False)
    ] = None,
) -> None:
    from pydantic import ValidationError

    from ledgerbridge.providers.qbo.sandbox import provider as sandbox
    from ledgerbridge.sandbox.configure import TenantChangeError, parse_pairs

    try:
        changes = parse_pairs(values or [])
    except TenantChangeError as exc:
        _fail(str(exc))
    if url is not None:
        changes["endpoint_url"] = url
    if verifier_token is not None:
        changes["verifier_token"] = verifier_token
    try:
        with _sandbox_context() as context:
            client_id, settings = sandbox.set_webhook(context, changes)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    _console().print_json(
        data={"client_id": client_id, "webhook": settings.model_dump(mode="json")}
    )


@sandbox_app.command("reset")
def sandbox_reset(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this one.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete sandbox data: one tenant, one provider's, or everything (asks first)."""
    from ledgerbridge.db import read_transaction
    from ledgerbridge.providers.registry import get_platform, platform_names
    from ledgerbridge.sandbox.tenants import list_tenants

    names = [_provider(provider)] if provider else platform_names()
    with _sandbox_context() as context:
        with read_transaction(context.engine) as connection:
            found = [
                (name, tenant_id)
                for name, tenant_id in list_tenants(connection)
                if name in names and tenant in (None, tenant_id)
            ]
        if tenant is not None and not found:
            where = f"{provider} " if provider else ""
            _fail(f"there is no {where}sandbox tenant {tenant!r}; nothing to delete")
        what = ", ".join(f"{name} {tenant_id}" for name, tenant_id in found) or "no tenants"
        if not yes and not typer.confirm(f"Delete the sandbox data of {what}?"):
            raise typer.Abort()
        for name in names:
            get_platform(name).sandbox.reset(context, tenant)
    _console().print(f"deleted the sandbox data of {what}")
