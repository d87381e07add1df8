# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module that talks LDAP to Active Directory (modules variant:
    # environment variables are read through env_fallback).
    MODULES = r"""
options:
  server:
    description:
      - Domain controller (host name or IP address) to connect to. A domain name works where it resolves to DCs.
      - If not set, the environment variable E(WINFLEET_LDAP_SERVER) is used.
    type: str
  port:
    description:
      - TCP port. Defaults to V(636) with O(tls_mode=ldaps) and V(389) otherwise.
      - If not set, the environment variable E(WINFLEET_LDAP_PORT) is used.
    type: int
  tls_mode:
    description:
      - V(ldaps) connects with TLS from the start (port 636).
      - V(starttls) connects in clear (port 389) and upgrades with the StartTLS extended operation before binding.
      - V(none) is plain LDAP. It is meant for O(auth=ntlm) and O(auth=kerberos), which sign and seal every message;
        a simple bind over it sends the password in clear (the module warns, and domain controllers requiring LDAP
        signing refuse it).
      - If not set, the environment variable E(WINFLEET_LDAP_TLS_MODE) is used.
    type: str
    choices: [ldaps, starttls, none]
    default: ldaps
  validate_certs:
    description:
      - Whether to verify the domain controller's certificate and its name. Setting V(false) is insecure and makes
        the module warn.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates to trust for the domain controller instead of the system store
        (typically the enterprise CA's root certificate).
      - If not set, the environment variable E(WINFLEET_LDAP_CA_PATH) is used.
    type: path
  tls_server_name:
    description:
      - Name expected in the domain controller's certificate (and sent as TLS SNI), when it differs from
        O(server) - for example when O(server) is an IP address. NTLM also uses it for the service principal name.
      - If not set, the environment variable E(WINFLEET_LDAP_TLS_SERVER_NAME) is used; else O(server).
    type: str
  auth:
    description:
      - V(simple) binds with O(username) and O(password) over TLS (O(tls_mode=ldaps) or O(tls_mode=starttls)).
      - V(ntlm) binds with NTLM through SASL GSS-SPNEGO (C(pyspnego)). Over O(tls_mode=none) every message is signed
        and sealed (works with "LDAP server signing requirements = Require signing"); over TLS the bind carries
        TLS channel binding instead.
      - V(kerberos) binds with Kerberos through SASL GSS-SPNEGO (C(pyspnego) with its C(gssapi) and C(krb5)
        bindings), for the service principal C(ldap/<tls_server_name>), the domain controller's DNS name; so set
        O(tls_server_name) when O(server) is an address. With O(password) a ticket is obtained for O(username)
        (C(user@REALM), the AD DNS domain in upper case); without it the ticket cache (E(KRB5CCNAME), after
        C(kinit)) or the client keytab (E(KRB5_CLIENT_KTNAME)) is used. The realm's KDCs come from C(krb5.conf)
        (E(KRB5_CONFIG)). Signing and sealing as for V(ntlm); works where NTLM is restricted.
      - If not set, the environment variable E(WINFLEET_LDAP_AUTH) is used.
    type: str
    choices: [simple, ntlm, kerberos]
    default: simple
  username:
    description:
      - Account to bind as, as a user principal name (V(svc-cleanup@corp.example.com)), a down-level name
        (V(CORP\\svc-cleanup), for NTLM) or a distinguished name (simple bind).
      - If not set, the environment variable E(WINFLEET_LDAP_USERNAME) is used.
    type: str
  password:
    description:
      - Password of O(username). Optional with O(auth=kerberos) (ticket cache or keytab).
      - If not set, the environment variable E(WINFLEET_LDAP_PASSWORD) is used.
    type: str
  search_base:
    description:
      - Distinguished name under which computers are looked up (subtree). Limit it to the OUs the job may touch.
      - Defaults to the domain (the root DSE's C(defaultNamingContext)).
      - If not set, the environment variable E(WINFLEET_LDAP_SEARCH_BASE) is used.
    type: str
  timeout:
    description:
      - Seconds to wait for the connection and for each answer of the domain controller.
    type: float
    default: 30
notes:
  - All modules of the C(winfleet.autopilot.ldap) action group share these options; set them once with
    C(module_defaults) and C(group/winfleet.autopilot.ldap).
  - The modules run on the controller (delegate to C(localhost)) and talk LDAP to a domain controller directly;
    nothing runs on Windows.
requirements:
  - sansldap
  - pyspnego (for O(auth=ntlm) and O(auth=kerberos))
  - gssapi and krb5 (for O(auth=kerberos); C(pyspnego[kerberos]), built against the MIT Kerberos headers)
"""
