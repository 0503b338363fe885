"""The `ledgerbridge` command."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import Engine

from ledgerbridge.config import Settings, get_settings
from ledgerbridge.crypto import CredentialCipher, load_or_create_key
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.errors import NotFoundError
from ledgerbridge.keys import create_api_key
from ledgerbridge.providers.base import ConnectorSettings
from ledgerbridge.runtime import open_databases, open_main_database, open_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.registry import get_sandbox, sandbox_names
from ledgerbridge.sandbox.tenants import update_tenant
from ledgerbridge.sync.runs import SyncRunInfo

app = typer.Typer(
    help="ledgerbridge: a unified Customers API for accounting platforms.", no_args_is_help=True
)
sandbox_app = typer.Typer(
    help="Local sandboxes of QuickBooks Online, Conductor and Intacct.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
keys_app = typer.Typer(help="API keys of the unified API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()

ProviderOption = Annotated[str, typer.Option("--provider", help="qbo, qbd or intacct.")]
TenantOption = Annotated[str, typer.Option("--tenant", help="Realm, end user or company id.")]


def _listening_settings(host: str | None, port: int | None) -> Settings:
    """The process settings with `--host`/`--port` applied over the environment's."""
    settings = get_settings()
    return settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the unified API and the sandboxes."""
    from ledgerbridge.api.app import create_app

    settings = _listening_settings(host, port)
    application = create_app(settings)
    console.print(
        f"ledgerbridge listening on [bold]{settings.base_url}[/bold] "
        f"(API docs at {settings.base_url}/docs)"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


ConnectionArgument = Annotated[str, typer.Argument(help="The connection id (conn_...).")]


@app.command()
def sync(
    connection: ConnectionArgument,
    full: Annotated[bool, typer.Option("--full", help="Read every customer again.")] = False,
) -> None:
    """Run one sync of a connection now, in the foreground, with a progress bar."""
    from ledgerbridge.sync.engine import SyncBusyError
    from ledgerbridge.sync.progress import run_table

    settings = get_settings()
    databases = open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    try:
        run = asyncio.run(
            _sync_now(databases.main, cipher, settings.connector_settings(), connection, full)
        )
    except (SyncBusyError, NotFoundError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        databases.dispose()
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
) -> SyncRunInfo:
    from ledgerbridge.sync.engine import SyncEnvironment, run_sync
    from ledgerbridge.sync.progress import RichSyncProgress
    from ledgerbridge.sync.worker import new_http_client

    async with new_http_client() as http:
        env = SyncEnvironment(
            engine=engine, cipher=cipher, http=http, connector_settings=connector_settings
        )
        with RichSyncProgress(console) as progress:
            return await run_sync(env, connection_id, full=full, trigger="cli", progress=progress)


@app.command()
def worker() -> None:
    """Run only the sync scheduler (any number of workers may run against one database)."""
    from ledgerbridge.sync.worker import run_worker

    settings = get_settings()
    databases = open_databases(settings)
    cipher = CredentialCipher(load_or_create_key(settings))
    console.print("ledgerbridge worker: running due syncs (Ctrl+C to stop)")
    try:
        asyncio.run(run_worker(databases.main, cipher, settings.connector_settings()))
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        databases.dispose()


@app.command()
def connect(
    provider: ProviderOption,
    tenant: TenantOption,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Connect to this server's local sandbox.")
    ] = False,
    server_url: Annotated[
        str | None,
        typer.Option(help="Where the sandbox is served; default this server's URL."),
    ] = None,
) -> None:
    """Create a connection to a sandbox tenant and print its id."""
    from ledgerbridge.connect import connect_sandbox

    if not sandbox:
        raise typer.BadParameter(
            "only --sandbox connections are made here; connect a real QuickBooks Online "
            "company through GET /connections/qbo/authorize, or POST /connections",
            param_hint="--sandbox",
        )
    settings = get_settings()
    databases = open_databases(settings)
    try:
        info = connect_sandbox(
            databases,
            CredentialCipher(load_or_create_key(settings)),
            provider=_provider(provider),
            tenant=tenant,
            server_url=server_url or settings.base_url,
        )
    except LookupError as exc:
        _refuse(exc)
    finally:
        databases.dispose()
    typer.echo(info.id)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
) -> None:
    """Create an API key for the unified API and print it (it is shown only once)."""
    engine = open_main_database(get_settings())
    with write_transaction(engine) as conn:
        key = create_api_key(conn, name=name, now=utcnow())
    engine.dispose()
    typer.echo(key)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Seed three sandbox companies, connect and sync them, and keep serving the API."""
    from ledgerbridge import demo as demo_module
    from ledgerbridge.api.app import create_app

    settings = _listening_settings(host, port)
    databases = open_databases(settings)
    state = demo_module.prepare(settings, databases)
    application = create_app(settings, databases)
    server = demo_module.start_server(settings, application)
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


@contextmanager
def _sandbox_context() -> Iterator[SandboxContext]:
    """The sandbox database for one command, its connections closed when it ends."""
    settings = get_settings()
    engine = open_sandbox_database(settings)
    try:
        yield SandboxContext(engine=engine, base_url=settings.base_url)
    finally:
        engine.dispose()


def _refuse(exc: LookupError) -> NoReturn:
    """One clear line on stderr (an unknown sandbox tenant), exit status 1."""
    typer.echo(f"error: {exc.args[0] if exc.args else exc}", err=True)
    raise typer.Exit(1)


def _provider(name: str) -> str:
    if name not in sandbox_names():
        raise typer.BadParameter(f"unknown provider {name!r}; choose from {sandbox_names()}")
    return name


@sandbox_app.command("seed")
def sandbox_seed(
    provider: ProviderOption,
    tenant: TenantOption,
    customers: Annotated[int, typer.Option(min=0, help="How many customers to add.")] = 100,
    seed: Annotated[int | None, typer.Option(help="Random seed for repeatable data.")] = None,
) -> None:
    """Create a sandbox tenant (if new) and fill it with realistic customers."""
    sandbox = get_sandbox(_provider(provider))
    with _sandbox_context() as context:
        result = sandbox.seed(context, tenant, customers, seed)
    console.print(f"{provider} tenant {result.tenant_id}: added {result.customers} customers")


@sandbox_app.command("create")
def sandbox_create(provider: ProviderOption, tenant: TenantOption) -> None:
    """Create an empty sandbox tenant (a realm, end user or company). Only this and `seed`
    create tenants: a request for an unknown one is answered as the platform answers it."""
    with _sandbox_context() as context:
        get_sandbox(_provider(provider)).create(context, tenant)
    console.print(f"{provider} tenant {tenant} ready")


@sandbox_app.command("token")
def sandbox_token(provider: ProviderOption, tenant: TenantOption) -> None:
    """Print what a client needs to call a sandbox tenant now (tokens, keys, ids)."""
    sandbox = get_sandbox(_provider(provider))
    with _sandbox_context() as context:
        try:
            issued = sandbox.credentials(context, tenant)
        except LookupError as exc:
            _refuse(exc)
    for key, value in issued.items():
        typer.echo(f"{key}={value}")


@sandbox_app.command("configure")
def sandbox_configure(
    provider: ProviderOption,
    tenant: TenantOption,
    values: Annotated[
        list[str], typer.Argument(help="KEY=VALUE pairs, e.g. error_rate=0.1 latency_ms=50.")
    ],
) -> None:
    """Change a sandbox tenant's knobs (limits, injected faults, latency, token lifetime)."""
    changes: dict[str, object] = {}
    for pair in values:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        changes[key] = None if raw.lower() in ("none", "null", "off") else _parse_value(raw)
    with _sandbox_context() as context, write_transaction(context.engine) as connection:
        try:
            settings = update_tenant(connection, _provider(provider), tenant, changes)
        except KeyError:
            raise typer.BadParameter(f"no {provider} tenant {tenant!r}; seed it first") from None
        except ValidationError as exc:
            raise typer.BadParameter(str(exc)) from None
    console.print_json(data=settings.model_dump(mode="json"))


def _parse_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@sandbox_app.command("reset")
def sandbox_reset(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this one.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
) -> None:
    """Delete sandbox data: one tenant, one provider's, or everything."""
    names = [_provider(provider)] if provider else sandbox_names()
    with _sandbox_context() as context:
        for name in names:
            get_sandbox(name).reset(context, tenant)
    console.print("sandbox data deleted")
