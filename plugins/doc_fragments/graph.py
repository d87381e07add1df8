# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module that talks to Microsoft Graph (modules variant:
    # environment variables are read through env_fallback).
    MODULES = r"""
options:
  tenant_id:
    description:
      - Directory (tenant) ID or primary domain of the Microsoft Entra tenant.
      - If not set, the environment variable E(AZURE_TENANT_ID) is used.
    type: str
  client_id:
    description:
      - Application (client) ID of the app registration the modules authenticate as (client credentials flow).
      - If not set, the environment variable E(AZURE_CLIENT_ID) is used.
    type: str
  client_secret:
    description:
      - Client secret of the app registration.
      - If not set, the environment variable E(AZURE_CLIENT_SECRET) is used.
      - Mutually exclusive with O(client_certificate_path).
    type: str
  client_certificate_path:
    description:
      - Certificate credential of the app registration. A PEM file holding the private key and the
        certificate (signed with PS256 and identified by its SHA-256 thumbprint), or a PKCS#12 file (C(.pfx), C(.p12)).
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PATH) is used.
    type: path
  client_certificate_password:
    description:
      - Password of the private key in O(client_certificate_path), if it is encrypted.
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PASSWORD) is used.
    type: str
  graph_url:
    description:
      - Base URL of Microsoft Graph. The token scope is derived from it (V(<graph_url>/.default)).
      - National clouds use their own, for example V(https://graph.microsoft.us), V(https://dod-graph.microsoft.us)
        or V(https://microsoftgraph.chinacloudapi.cn).
    type: str
    default: https://graph.microsoft.com
  authority_url:
    description:
      - Base URL of the Microsoft Entra token service; the tenant is appended to it.
      - National clouds use their own, for example V(https://login.microsoftonline.us) or V(https://login.chinacloudapi.cn).
      - If not set, the environment variable E(AZURE_AUTHORITY_HOST) is used.
    type: str
    default: https://login.microsoftonline.com
  ca_path:
    description:
      - PEM file with the CA certificates to trust for O(graph_url) and O(authority_url) instead of the system store.
    type: path
  validate_certs:
    description:
      - Whether to verify TLS certificates. Setting V(false) is insecure and makes the module warn.
    type: bool
    default: true
  api_version:
    description:
      - Graph API version. V(beta) carries the deployment profile status the v1.0 resource lacks.
    type: str
    choices: [beta, v1.0]
    default: beta
  timeout:
    description:
      - Seconds to wait for one HTTP response.
    type: float
    default: 60
  backoff_retries:
    description:
      - How many times one request is retried after a transient failure (HTTP 503, 504; 500 and 502 for reads and
        deletes). C(Retry-After) is honoured; otherwise exponential backoff with jitter.
      - Throttling (HTTP 429) is the service saying when to come back, not a failure, and has its own count (up to
        five times O(backoff_retries), always after the service's C(Retry-After)). So a burst of outages does not use
        up the retries a throttled request needs, nor the other way round.
    type: int
    default: 10
  backoff_delay:
    description:
      - First backoff delay in seconds when the service gives no C(Retry-After).
    type: float
    default: 2
  backoff_max_delay:
    description:
      - Longest backoff delay in seconds.
    type: float
    default: 60
notes:
  - All modules of the C(winfleet.autopilot.graph) action group share these options; set them once with
    C(module_defaults) and C(group/winfleet.autopilot.graph).
  - The modules authenticate with the OAuth 2.0 client credentials flow through C(msal), so the app registration
    needs B(application) permissions with admin consent. Each module lists the ones it needs.
requirements:
  - msal
  - requests
"""
