# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module that talks to the Configuration Manager AdminService (modules
    # variant: environment variables are read through env_fallback).
    MODULES = r"""
options:
  url:
    description:
      - URL of the Configuration Manager administration service (AdminService) on the SMS Provider,
        V(https://<SMS Provider FQDN>/AdminService). A URL without a path gets V(/AdminService) appended.
      - Through a cloud management gateway the URL is the gateway's AdminService endpoint.
      - If not set, the environment variable E(WINFLEET_CONFIGMGR_URL) is used.
    type: str
  username:
    description:
      - Account to authenticate as with Windows integrated authentication (NTLM), as V(DOMAIN\\user) or
        V(user@domain.fqdn). It must be an administrative user in Configuration Manager with the permissions
        each module lists.
      - If not set, the environment variable E(WINFLEET_CONFIGMGR_USERNAME) is used.
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(WINFLEET_CONFIGMGR_PASSWORD) is used.
    type: str
  ca_path:
    description:
      - PEM file with the CA certificate(s) to trust for the AdminService instead of the system store, for example
        the site's self-signed certificate exported from the SMS Provider, or your PKI's root CA.
    type: path
  validate_certs:
    description:
      - Whether to verify the AdminService's TLS certificate. Setting V(false) is insecure (the password's NTLM
        exchange and the inventory go to whoever answers) and makes the module warn.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for one HTTP response.
    type: float
    default: 30
notes:
  - The ConfigMgr modules share these options; set them once with C(module_defaults) and
    C(group/winfleet.autopilot.configmgr).
  - Reads and deletes are retried after HTTP 502, 503 or 504 and after a lost connection (both are idempotent),
    with exponential backoff honouring C(Retry-After).
  - Proxy and CA-bundle environment variables are ignored; the AdminService is reached directly.
requirements:
  - requests
  - requests-ntlm
"""
