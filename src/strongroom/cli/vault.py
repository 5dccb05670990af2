"""`strongroom vault`: provision an OpenBao/Vault central key store (the guide's section 3).

Thin: parse, call ``strongroom.vault.provision``, print. Connection settings come from
``VAULT_ADDR``, ``VAULT_TOKEN``, ``VAULT_CACERT``, ``VAULT_SKIP_VERIFY``, ``VAULT_NAMESPACE``
(or the group options). Exit codes: 0 success, 1 error; ``status`` also 2 when sealed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from strongroom.vault import provision
from strongroom.vault.client import VaultClient, VaultError, VaultSettings


class _Ctx:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides

    def settings(self) -> VaultSettings:
        try:
            return VaultSettings.from_env(**self.overrides)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None


@contextmanager
def _client(ctx: click.Context) -> Iterator[VaultClient]:
    settings = ctx.obj.settings() if isinstance(ctx.obj, _Ctx) else VaultSettings.from_env()
    try:
        with VaultClient(settings) as client:
            yield client
    except (VaultError, provision.ProvisionError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # TLS files that cannot be read, and the like
        raise click.ClickException(f"{settings.address}: {exc}") from None


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in [*rows, ("Key", "")])
    click.echo(f"{'Key':<{width}}    Value")
    click.echo(f"{'---':<{width}}    -----")
    for key, value in rows:
        click.echo(f"{key:<{width}}    {value}")


def _status_rows(st: provision.SealStatus) -> list[tuple[str, str]]:
    rows = [
        ("Seal Type", st.seal_type),
        ("Initialized", str(st.initialized).lower()),
        ("Sealed", str(st.sealed).lower()),
        ("Total Shares", str(st.shares)),
        ("Threshold", str(st.threshold)),
    ]
    if st.sealed and st.initialized:
        rows += [("Unseal Progress", f"{st.progress}/{st.threshold}"), ("Unseal Nonce", st.nonce)]
    rows += [("Version", st.version), ("Storage Type", st.storage_type)]
    if not st.sealed:
        rows += [("Cluster Name", st.cluster_name), ("Cluster ID", st.cluster_id)]
    return rows


@click.group(name="vault")
@click.option(
    "--address", help="Vault address (default: $VAULT_ADDR, else https://127.0.0.1:8200)."
)
@click.option("--ca-cert", type=click.Path(), help="CA file or directory (default: $VAULT_CACERT).")
@click.option("--namespace", help="Vault namespace (default: $VAULT_NAMESPACE).")
@click.option(
    "--tls-skip-verify",
    is_flag=True,
    default=None,
    help="Do not verify the server certificate ($VAULT_SKIP_VERIFY). Insecure.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    address: str | None,
    ca_cert: str | None,
    namespace: str | None,
    tls_skip_verify: bool | None,
) -> None:
    """Provision an OpenBao/Vault central key store: init, unseal, status, bootstrap."""
    ctx.obj = _Ctx(
        {
            "address": address,
            "ca_cert": ca_cert,
            "namespace": namespace,
            "skip_verify": tls_skip_verify,
        }
    )


@cli.command()
@click.option("--shares", default=5, show_default=True, help="Number of unseal key shares.")
@click.option("--threshold", default=3, show_default=True, help="Shares needed to unseal.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the shares and root token to this new file (mode 0600) instead of printing them.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (bao operator init -format=json)."
)
@click.pass_context
def init(
    ctx: click.Context, shares: int, threshold: int, output: str | None, as_json: bool
) -> None:
    """Initialise the store; refuses if it is initialised already."""
    fd = None
    if output:
        # Open first: the shares exist only in this answer and must not be lost to a bad path.
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise click.ClickException(f"cannot create {output}: {exc.strerror}") from None
    try:
        with _client(ctx) as client:
            result = provision.init(client, shares=shares, threshold=threshold)
    except BaseException:
        if fd is not None:
            os.close(fd)
            os.unlink(output or "")
        raise
    if fd is not None:
        with os.fdopen(fd, "w") as fh:
            json.dump(result.to_json(), fh, indent=2)
            fh.write("\n")
        message = (
            f"Initialized with {shares} key shares and a key threshold of {threshold}; "
            f"the shares and the root token are in {output} (mode 0600)."
        )
        if as_json:
            _echo_json({"output": output, "unseal_shares": shares, "unseal_threshold": threshold})
        else:
            click.echo(message)
            click.echo(f"Unseal with: strongroom vault unseal --from {output}")
        return
    if as_json:
        _echo_json(result.to_json())
        return
    for i, key in enumerate(result.keys_b64, 1):
        click.echo(f"Unseal Key {i}: {key}")
    click.echo(f"\nInitial Root Token: {result.root_token}\n")
    click.echo(
        f"Vault initialized with {shares} key shares and a key threshold of {threshold}. Please\n"
        "securely distribute the key shares printed above. When the store is re-sealed,\n"
        f"restarted, or stopped, you must supply at least {threshold} of these keys to unseal it\n"
        "before it can start servicing requests. Without them the data is lost for good."
    )


def _shares_from_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        keys = data.get("unseal_keys_b64") or data.get("keys_base64") or data.get("keys") or []
        return [str(k) for k in keys]
    raise click.ClickException(f"{path}: expected the JSON written by `init --output`")


@cli.command()
@click.argument("share", required=False)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False),
    help="Submit shares from this file (init --output JSON, or one share per line) until unsealed.",
)
@click.option("--reset", is_flag=True, help="Discard the shares submitted so far.")
@click.option("--json", "as_json", is_flag=True, help="Print the seal status as JSON.")
@click.pass_context
def unseal(
    ctx: click.Context, share: str | None, from_file: str | None, reset: bool, as_json: bool
) -> None:
    """Submit one unseal share (prompted for when not given) and show the progress."""
    with _client(ctx) as client:
        if reset:
            st = provision.unseal_reset(client)
        elif from_file:
            shares = _shares_from_file(from_file)
            if not shares:
                raise click.ClickException(f"{from_file}: no unseal shares found")
            st = provision.status(client)
            for item in shares:
                if not st.sealed:
                    break
                st = provision.unseal(client, item)
        else:
            if share is None:
                share = click.prompt("Unseal Key (will be hidden)", hide_input=True)
            st = provision.unseal(client, share or "")
    if as_json:
        _echo_json(st.to_json())
        return
    _table(_status_rows(st))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the seal status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the seal status. Exit code 0 unsealed, 2 sealed, 1 error (like bao)."""
    try:
        with _client(ctx) as client:
            st = provision.status(client)
    except click.ClickException as exc:
        click.echo(f"Error checking seal status: {exc.message}", err=True)
        sys.exit(1)
    if as_json:
        _echo_json(st.to_json())
    else:
        _table(_status_rows(st))
    sys.exit(2 if st.sealed else 0)


@cli.command()
@click.pass_context
def seal(ctx: click.Context) -> None:
    """Seal the store (needs a root or sudo token)."""
    with _client(ctx) as client:
        provision.seal(client)
    click.echo("Success! Sealed.")


@cli.command()
@click.option("--prefix", default="minio", show_default=True, help="K/V prefix for the keys.")
@click.option("--engine", default="kv", show_default=True, help="K/V engine mount path.")
@click.option(
    "--kv-version",
    type=click.Choice(["1", "2"]),
    default="1",
    show_default=True,
    help="K/V version.",
)
@click.option("--approle-engine", default="approle", show_default=True, help="AppRole mount path.")
@click.option("--policy-name", default="minio-key-policy", show_default=True)
@click.option("--role-name", default="kes-role", show_default=True)
@click.option("--period", default="5m", show_default=True, help="Token period of the role.")
@click.option("--allow-list", is_flag=True, help="Also grant 'list' (K/V v1; the guide does not).")
@click.option(
    "--format",
    "layout",
    type=click.Choice(["guide", "modern"]),
    default="guide",
    show_default=True,
    help="guide: keys.vault block; modern: keystore.vault block.",
)
@click.option(
    "--kes-ca",
    type=click.Path(),
    help="CA path to put in the block's tls.ca (default: the CA used to reach Vault).",
)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_context
def bootstrap(
    ctx: click.Context,
    prefix: str,
    engine: str,
    kv_version: str,
    approle_engine: str,
    policy_name: str,
    role_name: str,
    period: str,
    allow_list: bool,
    layout: str,
    kes_ca: str | None,
    as_json: bool,
) -> None:
    """Enable K/V and AppRole, write the policy, create the role and a secret id, then print
    the key server configuration block to paste (needs a root or admin VAULT_TOKEN)."""
    with _client(ctx) as client:
        result = provision.bootstrap(
            client,
            prefix=prefix,
            engine=engine,
            kv_version=int(kv_version),
            approle_engine=approle_engine,
            policy_name=policy_name,
            role_name=role_name,
            period=period,
            allow_list=allow_list,
            ca_cert=kes_ca or "",
        )
    if as_json:
        out = result.to_json()
        out["config"] = result.keys_vault() if layout == "guide" else result.keystore_vault()
        _echo_json(out)
        return
    for step in result.steps:
        click.echo(f"# {step}", err=True)
    click.echo(f"# paste into the key server configuration ({layout} layout):", err=True)
    click.echo(result.render("guide" if layout == "guide" else "modern"), nl=False)
