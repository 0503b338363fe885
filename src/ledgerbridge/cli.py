"""The `ledgerbridge` command."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from ledgerbridge.config import get_settings
from ledgerbridge.runtime import open_sandbox_database
from ledgerbridge.sandbox.base import SandboxContext
from ledgerbridge.sandbox.registry import get_sandbox, sandbox_names

app = typer.Typer(
    help="ledgerbridge: a unified Customers API for accounting platforms.", no_args_is_help=True
)
sandbox_app = typer.Typer(
    help="Local sandboxes of QuickBooks Online, Conductor and Intacct.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
console = Console()

ProviderOption = Annotated[str, typer.Option("--provider", help="qbo, qbd or intacct.")]
TenantOption = Annotated[str, typer.Option("--tenant", help="Realm, end user or company id.")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the unified API and the sandboxes."""
    from ledgerbridge.api.app import create_app

    settings = get_settings()
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    application = create_app(settings)
    console.print(
        f"ledgerbridge listening on [bold]{settings.base_url}[/bold] "
        f"(API docs at {settings.base_url}/docs)"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


def _sandbox_context() -> SandboxContext:
    settings = get_settings()
    return SandboxContext(engine=open_sandbox_database(settings), base_url=settings.base_url)


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
    result = sandbox.seed(_sandbox_context(), tenant, customers, seed)
    console.print(f"{provider} tenant {result.tenant_id}: added {result.customers} customers")


@sandbox_app.command("token")
def sandbox_token(provider: ProviderOption, tenant: TenantOption) -> None:
    """Print what a client needs to call a sandbox tenant now (tokens, keys, ids)."""
    sandbox = get_sandbox(_provider(provider))
    for key, value in sandbox.credentials(_sandbox_context(), tenant).items():
        typer.echo(f"{key}={value}")


@sandbox_app.command("reset")
def sandbox_reset(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this one.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
) -> None:
    """Delete sandbox data: one tenant, one provider's, or everything."""
    context = _sandbox_context()
    names = [_provider(provider)] if provider else sandbox_names()
    for name in names:
        get_sandbox(name).reset(context, tenant)
    console.print("sandbox data deleted")
