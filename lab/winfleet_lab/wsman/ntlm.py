# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NTLM acceptor of one emulated device: pyspnego's, with the device's own names and Windows' CBT levels.

pyspnego's acceptor answers every NEGOTIATE with the *emulator machine's* names (``socket.gethostname()``, NetBIOS
domain "WORKSTATION") and treats channel binding as Strict whenever the server has bindings. Windows does neither:

* the CHALLENGE names the device itself (MS-NLMP 2.2.1.2 and 3.2.5.1.1): TargetName is the NetBIOS computer name
  (``NTLMSSP_TARGET_TYPE_SERVER``) on a workgroup machine and the NetBIOS domain name (``NTLMSSP_TARGET_TYPE_DOMAIN``)
  on a domain member; the target-info AV pairs carry the NetBIOS computer name, the NetBIOS domain (the workgroup, or
  the AD domain when joined), the DNS computer name and the DNS domain (plus the DNS tree name when joined). Clients
  such as Azure/go-ntlmssp and several npm NTLM clients take the user's domain from TargetName, so a lab whose
  devices all answer with the emulator machine's name refuses them (``../shared/reference/wsman-emulation.md`` 8);
* WinRM's ``CbtHardeningLevel`` (winrm/config/service/auth) is ``Relaxed`` by default: over HTTPS a client that sends
  no channel-binding token (or the all-zero "unknown" token) is accepted, a wrong token is refused. ``Strict`` also
  refuses a missing token; ``None`` checks nothing.

Everything else (NTLMv2 response check, MIC, session key, sealing) is pyspnego's own code.
"""

from __future__ import annotations

import spnego
from spnego._context import GSSMech
from spnego._ntlm import NTLMProxy
from spnego._ntlm_raw.messages import (
    Authenticate,
    AvId,
    Challenge,
    FileTime,
    NegotiateFlags,
    NTClientChallengeV2,
    TargetInfo,
)
from spnego.exceptions import BadBindingsError

CBT_LEVELS = ("None", "Relaxed", "Strict")
_ZERO_CBT = b"\x00" * 16


def cbt_level(value):
    """The canonical spelling of a CbtHardeningLevel value (case-insensitive), or ValueError."""
    for level in CBT_LEVELS:
        if str(value).strip().lower() == level.lower():
            return level
    raise ValueError("cbt_hardening_level must be one of %s, not %r" % (", ".join(CBT_LEVELS), value))


class DeviceNames:
    """What a device's NTLM CHALLENGE says about it (MS-NLMP 2.2.2.1 AV_PAIR)."""

    __slots__ = ("dns_computer", "dns_domain", "joined", "nb_computer", "nb_domain")

    def __init__(self, computer_name, workgroup="WORKGROUP", domain=None, netbios_domain=None):
        self.nb_computer = computer_name.upper()[:15]
        self.joined = bool(domain)
        if self.joined:
            self.dns_domain = domain.lower()
            self.nb_domain = (netbios_domain or domain.split(".")[0]).upper()[:15]
            self.dns_computer = "%s.%s" % (computer_name, self.dns_domain)
        else:
            self.nb_domain = (workgroup or "WORKGROUP").upper()[:15]
            # A workgroup machine has no DNS domain of its own: its DNS names are its host name.
            self.dns_domain = computer_name
            self.dns_computer = computer_name

    @property
    def target_name(self):
        return self.nb_domain if self.joined else self.nb_computer


class DeviceNTLM(NTLMProxy):
    """pyspnego's NTLM acceptor speaking for one device, with the device's CbtHardeningLevel."""

    def __init__(self, names, cbt="Relaxed", channel_bindings=None):
        super().__init__(hostname=names.dns_computer, service="http", channel_bindings=channel_bindings,
                         usage="accept", protocol="ntlm")
        self._names = names
        self._cbt = cbt_level(cbt)

    def _step_accept_negotiate(self, token):
        super()._step_accept_negotiate(token)  # parses the NEGOTIATE, picks the flags and the server challenge
        base = self._temp_challenge
        names = self._names
        flags = base.flags & ~(NegotiateFlags.target_type_server | NegotiateFlags.target_type_domain)
        flags |= NegotiateFlags.target_type_domain if names.joined else NegotiateFlags.target_type_server
        info = TargetInfo()
        info[AvId.nb_domain_name] = names.nb_domain
        info[AvId.nb_computer_name] = names.nb_computer
        info[AvId.dns_domain_name] = names.dns_domain
        info[AvId.dns_computer_name] = names.dns_computer
        if names.joined:
            info[AvId.dns_tree_name] = names.dns_domain
        info[AvId.timestamp] = FileTime.now()
        kwargs = {"version": base.version} if flags & NegotiateFlags.version else {}
        challenge = Challenge(flags, base.server_challenge, target_name=names.target_name, target_info=info, **kwargs)
        self._temp_challenge = challenge
        return challenge.pack()

    def _step_accept_authenticate(self, token, channel_bindings):
        if channel_bindings is not None and self._cbt != "None":
            sent = _client_bindings(token)
            if sent is None or sent == _ZERO_CBT:
                if self._cbt == "Strict":
                    raise BadBindingsError(context_msg="CbtHardeningLevel=Strict: the client sent no channel binding token")
                channel_bindings = None  # Relaxed: a client that does not know the bindings is accepted
        elif self._cbt == "None":
            channel_bindings = None
        return super()._step_accept_authenticate(token, channel_bindings)


def _client_bindings(token):
    """The MsvAvChannelBindings the client put in its NTLMv2 response, or None."""
    try:
        auth = Authenticate.unpack(token)
        if not auth.nt_challenge_response or len(auth.nt_challenge_response) <= 24:
            return None
        return NTClientChallengeV2.unpack(auth.nt_challenge_response[16:]).av_pairs.get(AvId.channel_bindings)
    except Exception:  # a malformed token: pyspnego's own parsing reports it
        return None


def acceptor(names, cbt="Relaxed", channel_bindings=None, ntlm_allowed=True, kerberos=None):
    """A Negotiate acceptor (raw NTLMSSP, raw Kerberos or SPNEGO-wrapped tokens) whose NTLM mechanism is
    ``DeviceNTLM`` (left out when the device refuses NTLM) and whose Kerberos mechanism is ``kerberos`` (a pyspnego
    Kerberos acceptor for the device's own service principal, ``kerberos_acceptor``), when the device has one."""
    contexts = {}
    if kerberos is not None:
        kerberos._is_wrapped = True
        contexts[GSSMech.kerberos] = kerberos
    if ntlm_allowed:
        ntlm = DeviceNTLM(names, cbt, channel_bindings)
        ntlm._is_wrapped = True  # what pyspnego's NegotiateProxy sets on the contexts it builds itself
        contexts[GSSMech.ntlm] = ntlm
    return spnego.server(hostname=names.dns_computer, service="http", protocol="negotiate",
                         channel_bindings=channel_bindings, _negotiate_contexts=contexts)


def kerberos_acceptor(credential, names, channel_bindings=None):
    """pyspnego's Kerberos (GSSAPI) acceptor with the device's own key (``credential``: ``kerberos_credential``)."""
    from spnego._gss import GSSAPIProxy

    return GSSAPIProxy(hostname=names.dns_computer, service="http", usage="accept", protocol="kerberos",
                       channel_bindings=channel_bindings, _gssapi_credential=credential)


def kerberos_credential(keytab, names, service="HTTP"):
    """The acceptor credential of ``<service>/<dns computer name>`` from ``keytab`` (the keys Samba exported for the
    device's computer account): only tickets for this device's own SPN are accepted, as on Windows. None when the
    keytab has no key for it (the device is not joined to the lab's domain) or Kerberos is not available."""
    try:
        import gssapi
    except ImportError:
        return None
    try:
        name = gssapi.Name("%s@%s" % (service, names.dns_computer), gssapi.NameType.hostbased_service)
        cred = gssapi.Credentials(name=name, usage="accept", store={b"keytab": str(keytab).encode()})
        _ = cred.name  # an absent key fails here, not at the first client
        return cred
    except gssapi.exceptions.GSSError:
        return None


def is_ntlm(token):
    """Whether a Negotiate token starts NTLM: raw NTLMSSP, or SPNEGO whose first (optimistic) token is NTLMSSP or
    whose only mechanism is NTLM."""
    if token.startswith(b"NTLMSSP\x00"):
        return True
    try:
        from spnego._spnego import NegTokenInit, unpack_token

        parsed = unpack_token(token)
    except Exception:  # a raw Kerberos token, or garbage: not NTLM
        return False
    if isinstance(parsed, NegTokenInit):
        if parsed.mech_token and parsed.mech_token.startswith(b"NTLMSSP\x00"):
            return True
        return bool(parsed.mech_types) and all(m == GSSMech.ntlm.value for m in parsed.mech_types)
    return False


_KRB5_OID = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2 (and the MS alias 1.2.840.48018.1.2.2)
_MS_KRB5_OID = bytes.fromhex("06092a864882f712010202")


def is_kerberos(token):
    """Whether a token is a raw Kerberos AP-REQ (GSS framing with the Kerberos OID), not SPNEGO or NTLM."""
    if token[:1] != b"\x60" or len(token) < 2:
        return False
    start = 2 if token[1] < 0x80 else 2 + (token[1] & 0x7F)  # after the DER length
    return token[start:start + len(_KRB5_OID)] in (_KRB5_OID, _MS_KRB5_OID)
