# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token service: OIDC discovery, the token endpoint (client secret or certificate assertion), access tokens, and
the bearer check every Graph call passes."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import secrets as secret_registry
from . import config as C
from .common import (
    GraphFault,
    Reply,
    TokenFault,
    _b64url_decode,
    utcnow,
)


class TokenService:
    """Mixin of GraphService: apps, keys, tokens."""

    # set-up
    def _init_keys(self):
        meta = self.store.data["meta"]
        if "signing_key" not in meta:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            self.store.put("meta", "signing_key", pem)
        self.signing_key = serialization.load_pem_private_key(meta["signing_key"].encode(), None)
        self.verify_key = self.signing_key.public_key()

    def add_app(self, name, roles, secret=None, certificate_pem=None, client_id=None):
        """Register an app: returns ``{"client_id", "client_secret", ...}``."""
        client_id = client_id or str(uuid.uuid4())
        app = {"name": name, "client_id": client_id, "roles": list(roles), "secrets": [], "certs": []}
        if secret is not False:
            app["secrets"].append(secret or "lab~" + secrets.token_urlsafe(24))
            secret_registry.register(app["secrets"][-1], "client_secret")
        if certificate_pem:
            app["certs"].append(self._cert_entry(certificate_pem))
        self.store.put("apps", client_id, app)
        self.store.commit()
        return app

    @staticmethod
    def _cert_entry(certificate_pem):
        cert = x509.load_pem_x509_certificate(certificate_pem.encode() if isinstance(certificate_pem, str)
                                              else certificate_pem)
        from cryptography.hazmat.primitives import hashes

        return {"sha1": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
                "sha256": cert.fingerprint(hashes.SHA256()).hex(),
                "public_key": cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
                "not_after": cert.not_valid_after_utc.timestamp()}

    def app_by_name(self, name):
        for app in self.store.data["apps"].values():
            if app["name"] == name:
                return app
        raise KeyError(name)

    def _tenant_aliases(self):
        return {self.cfg.tenant_id.lower(), self.cfg.tenant_domain.lower(), "organizations"}

    # identity: OIDC discovery + token endpoint
    def issuer_base(self):
        return "%s/%s" % (self.base_url, self.cfg.tenant_id)

    def token_endpoint(self, tenant=None):
        return "%s/%s/oauth2/v2.0/token" % (self.base_url, tenant or self.cfg.tenant_id)

    def _identity(self, method, rest, query, body):
        tail = "/".join(rest)
        if method == "GET" and tail in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            base = self.issuer_base()
            return Reply(200, {
                "token_endpoint": self.token_endpoint(),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": "%s/discovery/v2.0/keys" % base,
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": "%s/v2.0" % base,
                "request_uri_parameter_supported": False,
                "authorization_endpoint": "%s/oauth2/v2.0/authorize" % base,
                "device_authorization_endpoint": "%s/oauth2/v2.0/devicecode" % base,
                "tenant_region_scope": "EU",
                "cloud_instance_name": "lab.local",
            })
        if method == "GET" and tail == "discovery/v2.0/keys":
            numbers = self.verify_key.public_numbers()
            n = base64.urlsafe_b64encode(numbers.n.to_bytes(256, "big")).decode().rstrip("=")
            e = base64.urlsafe_b64encode(numbers.e.to_bytes(3, "big")).decode().rstrip("=")
            return Reply(200, {"keys": [{"kty": "RSA", "use": "sig", "kid": "lab-signing", "n": n, "e": e}]})
        if method == "POST" and tail == "oauth2/v2.0/token":
            self.stats["token_requests"] += 1
            return self._token(rest, body)
        raise TokenFault(404, "invalid_request", 900561, "The endpoint only accepts POST requests.")

    def _token(self, rest, body):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise TokenFault(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type '%s'." % form.get("grant_type", ""))
        client_id = form.get("client_id", "")
        app = self.store.data["apps"].get(client_id)
        if app is None:
            raise TokenFault(400, "unauthorized_client", 700016,
                             "Application with identifier '%s' was not found in the directory '%s'. This can happen if "
                             "the application has not been installed by the administrator of the tenant or consented "
                             "to by any user in the tenant." % (client_id, self.cfg.tenant_domain))
        scope = form.get("scope", "")
        resources = [s[: -len("/.default")] for s in scope.split() if s.endswith("/.default")]
        if len(resources) != 1:
            raise TokenFault(400, "invalid_scope", 1002012,
                             "The provided value for scope %s is not valid. Client credential flows must have a scope "
                             "value with /.default suffixed to the resource identifier (application ID URI)." % scope)
        resource = resources[0].rstrip("/")
        if resource not in self.audiences():
            raise TokenFault(400, "invalid_resource", 500011,
                             "The resource principal named %s was not found in the tenant named %s." % (
                                 resource, self.cfg.tenant_domain))
        if "client_secret" in form:
            if form["client_secret"] not in app["secrets"]:
                raise TokenFault(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                                 "being sent in the request is the client secret value, not the client secret ID, for "
                                 "a secret added to app '%s'." % client_id)
            self.stats["token_secret"] += 1
        elif "client_assertion" in form:
            self._check_assertion(app, form)
        else:
            raise TokenFault(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
                             "'client_assertion' or 'client_secret'.")
        return Reply(200, self._issue(app, resource))

    def audiences(self):
        out = {"https://graph.microsoft.com", C.GRAPH_APP_ID}
        if self.base_url:
            out.add(self.base_url)
        return out

    def _check_assertion(self, app, form):
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise TokenFault(400, "invalid_request", 50027, "Invalid client_assertion_type.")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise TokenFault(401, "invalid_client", 50027, "JWT token is invalid or malformed: %s" % exc)
        alg = header.get("alg")
        if alg == "RS256" and "x5t" in header:
            want, field = _b64url_decode(header["x5t"]).hex(), "sha1"
        elif alg == "PS256" and "x5t#S256" in header:
            want, field = _b64url_decode(header["x5t#S256"]).hex(), "sha256"
        else:
            raise TokenFault(401, "invalid_client", 5002738,
                             "The assertion must be signed with RS256 and carry x5t, or PS256 with x5t#S256 (got %s)." % alg)
        entry = next((c for c in app["certs"] if c[field] == want), None)
        if entry is None:
            raise TokenFault(401, "invalid_client", 700027, "The certificate with identifier used to sign the client "
                             "assertion is not registered on application. [Reason - The key was not found., "
                             "Thumbprint of key used by client: '%s']" % want.upper())
        key = serialization.load_pem_public_key(entry["public_key"].encode())
        try:
            claims = jwt.decode(assertion, key, algorithms=[alg], audience=[self.token_endpoint(),
                                                                           self.token_endpoint(self.cfg.tenant_domain)],
                                options={"require": ["exp", "aud", "iss", "sub"]}, leeway=300)
        except jwt.ExpiredSignatureError:
            raise TokenFault(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        except jwt.InvalidAudienceError:
            raise TokenFault(401, "invalid_client", 700016, "The audience of the client assertion is not the token "
                             "endpoint %s." % self.token_endpoint())
        except jwt.PyJWTError as exc:
            raise TokenFault(401, "invalid_client", 700027, "Client assertion failed signature validation. (%s)" % exc)
        if claims.get("iss") != app["client_id"] or claims.get("sub") != app["client_id"]:
            raise TokenFault(401, "invalid_client", 700021, "Client assertion application identifier doesn't match "
                             "'client_id' parameter.")
        self.stats["token_assertion_%s" % alg] += 1

    def _issue(self, app, resource):
        now = int(self.vnow())
        lifetime = self.cfg.token_lifetime
        claims = {"aud": resource, "iss": "https://sts.windows.net/%s/" % self.cfg.tenant_id, "iat": now,
                  "nbf": now, "exp": now + lifetime, "appid": app["client_id"], "appidacr": "1",
                  "idtyp": "app", "oid": str(uuid.UUID(hashlib.md5(app["client_id"].encode(), usedforsecurity=False).hexdigest())),
                  "roles": list(app["roles"]), "sub": app["client_id"], "tid": self.cfg.tenant_id,
                  "uti": secrets.token_urlsafe(16), "ver": "1.0"}
        token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": "lab-signing"})
        secret_registry.register(token, "token")
        self.stats["tokens_issued"] += 1
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    def _authenticate(self, headers):
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise GraphFault(401, "InvalidAuthenticationToken", "Access token is empty.",
                             headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        token = auth[7:].strip()
        try:
            claims = jwt.decode(token, self.verify_key, algorithms=["RS256"], options={"verify_exp": False,
                                                                                     "verify_aud": False,
                                                                                     "verify_nbf": False,
                                                                                     "verify_iat": False})
        except jwt.PyJWTError:
            raise GraphFault(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature.")
        if claims.get("aud") not in self.audiences():
            raise GraphFault(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if claims.get("tid") != self.cfg.tenant_id:
            raise GraphFault(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.")
        if claims.get("exp", 0) <= self.vnow():
            self.stats["expired_tokens_seen"] += 1
            raise GraphFault(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                             headers={"WWW-Authenticate": 'Bearer realm="", error="invalid_token", '
                                                          'error_description="The access token is expired"'})
        app = self.store.data["apps"].get(claims.get("appid"))
        if app is None:
            raise GraphFault(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return {"name": app["name"], "client_id": app["client_id"], "roles": set(claims.get("roles") or [])}

    @staticmethod
    def _token_fault_reply(fault):
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
        desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
            fault.aadsts, fault.text, trace, corr, stamp)
        return Reply(fault.status, {"error": fault.error, "error_description": desc, "error_codes": [fault.aadsts],
                                    "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
                                    "error_uri": "https://login.microsoftonline.com/error?code=%d" % fault.aadsts})
