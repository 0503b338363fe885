from ledgerbridge.cli import app

app(prog_name="ledgerbridge")
