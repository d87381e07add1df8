# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Kerberos for the collection's WinRM and LDAP clients, through pyspnego (and its ``gssapi``/``krb5`` bindings).

* ``available()``: whether pyspnego can do Kerberos here (``spnego._gss``: the ``gssapi`` and ``krb5`` C extensions
  over the MIT libraries), and ``missing()`` says what to install when not.
* ``credential(username, password, forwardable)``: the initiator credential. With a password, a TGT is obtained once
  per process and user (an AS exchange with the KDC), then shared by every device's context: a fleet of 1,000
  devices asks the KDC for 1,000 service tickets, not 1,000 TGTs, and a wrong password is tried once, not once per
  device (which would lock the account out). Without a password: the ticket cache (``KRB5CCNAME``, after ``kinit``)
  or the client keytab (``KRB5_CLIENT_KTNAME``), as MIT's GSSAPI finds them.
* ``client_context(...)``: a pyspnego context for ``HTTP/<host>`` or ``ldap/<host>`` with that credential:
  ``kerberos`` (raw Kerberos tokens, as Windows' ``Kerberos`` and pywinrm's kerberos transport send) or
  ``negotiate`` (SPNEGO: Kerberos first, NTLM when Kerberos cannot be used).
* ``describe(exc)``: a Kerberos failure in the user's words: ``(kind, words)``, where kind is one of ``KINDS``.
"""

from __future__ import annotations

import hashlib
import threading

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import causes

# kind -> (the short words of a report, the explanation and what to do)
KINDS = {
    "clock_skew": ("Clock skew", "the clocks of this controller and the domain (its domain controllers, or the "
                   "device) differ by more than Kerberos allows (5 minutes by default): synchronise them with the "
                   "domain's time (NTP; w32tm /resync on the device) and try again"),
    "unknown_service_principal": ("No such service principal", "the domain has no service principal {spn}: "
                                  "{spn_hint}"),
    "kdc_unreachable": ("KDC unreachable", "no Kerberos KDC (domain controller) of the realm answered: check the "
                        "kdc entries of the realm in krb5.conf (KRB5_CONFIG) or DNS SRV records "
                        "_kerberos._tcp.<domain> with dns_lookup_kdc, and that port 88 (TCP and UDP) to the domain "
                        "controllers is open"),
    "wrong_realm": ("Wrong realm", "the realm of {user} is not one this controller's Kerberos configuration knows: "
                    "the realm is the Active Directory DNS domain in upper case (user@CORP.EXAMPLE.COM); add it to "
                    "[realms] in krb5.conf or enable dns_lookup_kdc"),
    "password_expired": ("Password expired", "the password of {user} has expired (or must be changed at the next "
                         "logon): change it in the domain, then update the inventory or vault"),
    "bad_credentials": ("Credentials rejected", "the domain rejected the Kerberos credentials of {user}"),
    "no_credentials": ("No Kerberos credentials", "there is no Kerberos ticket for {user}: give ansible_password "
                       "(the collector then gets its own ticket), run kinit first (KRB5CCNAME), or point "
                       "KRB5_CLIENT_KTNAME at a keytab"),
    "kerberos": ("Kerberos failed", "Kerberos failed"),
}
# MIT and Heimdal messages (their com_err tables) -> kind; the first match wins.
_MESSAGES = (
    ("clock skew too great", "clock_skew"),
    ("server not found in kerberos database", "unknown_service_principal"),
    ("server principal unknown", "unknown_service_principal"),
    ("cannot contact any kdc", "kdc_unreachable"),
    ("unable to reach any kdc", "kdc_unreachable"),
    ("cannot find kdc for", "wrong_realm"),
    ("cannot resolve network address for kdc", "wrong_realm"),
    ("realm not local to kdc", "wrong_realm"),
    ("password has expired", "password_expired"),
    ("password expired", "password_expired"),
    ("preauthentication failed", "bad_credentials"),
    ("client not found in kerberos database", "bad_credentials"),
    ("clients credentials have been revoked", "bad_credentials"),
    ("client's credentials have been revoked", "bad_credentials"),
    ("decrypt integrity check failed", "bad_credentials"),
    ("no kerberos credentials available", "no_credentials"),
    ("no credentials cache found", "no_credentials"),
    ("no credentials were supplied", "no_credentials"),
    ("keytab contains no suitable keys", "no_credentials"),
)
_LOCK = threading.Lock()
_CREDENTIALS = {}  # (user, sha256(password), forwardable) -> gssapi.Credentials or the exception it raised


def _gss():
    """pyspnego's GSSAPI module when it can do Kerberos, else None."""
    try:
        import spnego._gss as gss
    except ImportError:
        return None
    return gss if gss.HAS_GSSAPI else None


def available():
    """Whether pyspnego can do Kerberos (with WinRM message encryption, which needs GSSAPI's IOV functions)."""
    gss = _gss()
    return bool(gss) and bool(getattr(gss, "HAS_IOV", True))


def missing():
    """What is missing for Kerberos, in words (empty when nothing is)."""
    try:
        import spnego._gss as gss
    except ImportError:
        return "the Python library pyspnego"
    if gss.HAS_GSSAPI:
        return ""
    return ("the Python libraries gssapi and krb5 (pip install 'pyspnego[kerberos]'; they build against the MIT "
            "Kerberos headers: libkrb5-dev or krb5-devel, see tools/install-kerberos.sh): %s"
            % str(getattr(gss, "GSSAPI_IMP_ERR", "") or "not importable").strip().splitlines()[-1])


def credential(username, password, forwardable=False):
    """The initiator credential of ``username``: a TGT from the password, obtained once per process (None without a
    password: pyspnego then takes the ticket cache or the client keytab itself). Raises what the KDC answered."""
    if not password:
        return None
    gss = _gss()
    kinit = getattr(gss, "_kinit", None) if gss else None
    if kinit is None:  # pragma: no cover - another pyspnego layout: pyspnego gets a TGT per context itself
        return None
    gssapi = gss.gssapi  # pyspnego's own import of the bindings (pyspnego[kerberos])

    key = (username, hashlib.sha256(password.encode("utf-8", "surrogatepass")).hexdigest(), bool(forwardable))
    with _LOCK:
        cached = _CREDENTIALS.get(key)
        if cached is None:
            try:
                raw = kinit(username.encode("utf-8"), gss._encode_kerb_password(password), forwardable=bool(forwardable))
                cached = gssapi.Credentials(base=raw, usage="initiate")
            except Exception as exc:  # remembered: a wrong password is sent to the KDC once, not once per device
                cached = exc
            _CREDENTIALS[key] = cached
    if isinstance(cached, Exception):
        raise cached
    return cached


def forget():
    """Drop the cached credentials (tests; a long-lived process after a password change)."""
    with _LOCK:
        _CREDENTIALS.clear()


def client_context(username, password, hostname, service, protocol="kerberos", channel_bindings=None,
                   delegate=False, wrapping=True, ntlm=True):
    """A pyspnego client context for ``service/hostname`` (``protocol`` kerberos or negotiate).

    ``wrapping`` asks for integrity and confidentiality (message encryption, LDAP sealing); ``delegate`` for a
    forwardable ticket delegated to the service (ansible_winrm_kerberos_delegation); ``ntlm`` False keeps NTLM out
    of a negotiate context (SPNEGO with Kerberos only)."""
    import spnego
    from spnego._context import GSSMech

    password = password or None  # an empty password: the ticket cache or the client keytab
    req = spnego.ContextReq.mutual_auth
    if wrapping:
        req |= spnego.ContextReq.sequence_detect | spnego.ContextReq.integrity | spnego.ContextReq.confidentiality
    else:
        req |= spnego.ContextReq.no_integrity
    if delegate:
        req |= spnego.ContextReq.delegate
    cred = credential(username, password, forwardable=delegate)
    extra = {"_gssapi_credential": cred} if cred is not None else {}
    kwargs = {"hostname": hostname, "service": service, "channel_bindings": channel_bindings, "context_req": req}
    if protocol == "kerberos":
        return spnego.client(username, None if cred is not None else password, protocol="kerberos", **kwargs, **extra)
    # negotiate: SPNEGO offering Kerberos (with the shared credential) and NTLM, as Windows clients do
    contexts = {}
    try:
        krb = spnego.client(username, None if cred is not None else password, protocol="kerberos", **kwargs, **extra)
        krb._is_wrapped = True
        contexts[GSSMech.kerberos] = krb
    except Exception:
        if not (ntlm and password):
            raise
        # no Kerberos credential: SPNEGO goes on with NTLM, as Windows' Negotiate does
    if ntlm and password:
        ntlm = spnego.client(username, password, protocol="ntlm", **kwargs)
        ntlm._is_wrapped = True
        contexts[GSSMech.ntlm] = ntlm
    return spnego.client(username, password, protocol="negotiate", _negotiate_contexts=contexts, **kwargs)


def _texts(exc):
    return [str(e) for e in causes(exc, links=("base_error", "__cause__", "__context__"))]


def kind_of(exc):
    """The ``KINDS`` key of a Kerberos failure (``kerberos`` when none matches)."""
    text = " ".join(_texts(exc)).lower().replace("\u2019", "'")
    for needle, kind in _MESSAGES:
        if needle in text:
            return kind
    return "kerberos"


def cause(exc):
    """The library's own words (GSSAPI's minor status, or krb5's message), for the end of a message."""
    texts = [t for t in _texts(exc) if t]
    for t in texts:
        if "Minor" in t:
            return t.split("Minor", 1)[1].split(":", 1)[-1].strip().rstrip(")")
    return texts[-1] if texts else type(exc).__name__


WINRM_SPN_HINT = ("Kerberos needs the device's name as registered in Active Directory (a joined PC has HTTP/ and "
                  "HOST/ SPNs for its FQDN): set ansible_host, or ansible_winrm_kerberos_hostname_override, to the "
                  "device's FQDN (an IP address has no SPN)")


def describe(exc, user=None, spn=None, spn_hint=WINRM_SPN_HINT):
    """``(kind, words, message)`` of a Kerberos failure: the report's words and the full sentence (``spn_hint``:
    what to do when the service principal does not exist)."""
    kind = kind_of(exc)
    words, explanation = KINDS[kind]
    explanation = explanation.format(user=user or "the user", spn=spn or "for the device", spn_hint=spn_hint)
    return kind, words, "%s (Kerberos: %s)" % (explanation, cause(exc))
