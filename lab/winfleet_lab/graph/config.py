# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of the Graph lab. Durations are in *service* seconds (the documented numbers);
``time_scale`` turns them into wall-clock seconds (0.01 = one hundred times faster)."""

from __future__ import annotations

import dataclasses

LAB_TENANT_ID = "0f1e2d3c-4b5a-4678-9abc-def012345678"
LAB_TENANT_DOMAIN = "winfleetlab.onmicrosoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# Application permissions (app roles) a lab app can hold.
SVC_READ = "DeviceManagementServiceConfig.Read.All"
SVC_WRITE = "DeviceManagementServiceConfig.ReadWrite.All"
MD_READ = "DeviceManagementManagedDevices.Read.All"
MD_WRITE = "DeviceManagementManagedDevices.ReadWrite.All"
DEV_READ = "Device.Read.All"
DEV_WRITE = "Device.ReadWrite.All"
USER_READ = "User.Read.All"
LIC_READ = "LicenseAssignment.Read.All"
DIR_READ = "Directory.Read.All"
ORG_READ = "Organization.Read.All"
DIR_WRITE = "Directory.ReadWrite.All"
GROUP_READ = "Group.Read.All"
GROUP_WRITE = "GroupMember.ReadWrite.All"
MEMBER_READ = "GroupMember.Read.All"
GROUPS_WRITE = "Group.ReadWrite.All"
# Who may read groups and their members: the least privileged is GroupMember.Read.All; every higher one also reads
# (learn.microsoft.com/graph/api/group-list and group-list-members, "higher privileged permissions").
GROUP_READERS = (MEMBER_READ, GROUP_READ, GROUP_WRITE, GROUPS_WRITE, DIR_READ, DIR_WRITE)

ALL_ROLES = [SVC_WRITE, MD_WRITE, DEV_WRITE, USER_READ, GROUP_READ, LIC_READ, GROUP_WRITE]


@dataclasses.dataclass
class LabConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tenant_id: str = LAB_TENANT_ID
    tenant_domain: str = LAB_TENANT_DOMAIN
    time_scale: float = 1.0
    # Import processing: observed 62-95 s on the real service.
    processing_delay: float = 60.0
    # Autopilot record deletion "can take a few minutes".
    delete_delay: float = 30.0
    # Intune enrollment family limits, per 20 s (DOC throttling-limits "Intune enrollment").
    throttle_window: float = 20.0
    write_limit_app: int = 100
    write_limit_tenant: int = 200
    read_limit_app: int = 1000
    read_limit_tenant: int = 2000
    # Intune devices family (managedDevices), counted apart from enrollment: writes 200 per app / 400 per tenant,
    # any request 2000 per app / 4000 per tenant, per 20 s (DOC throttling-limits "Intune devices").
    md_write_limit_app: int = 200
    md_write_limit_tenant: int = 400
    md_read_limit_app: int = 2000
    md_read_limit_tenant: int = 4000
    # Entra (directory) requests: generous, only enforced as "any request" per app.
    directory_limit_app: int = 3500
    intune_page_size: int = 1000
    directory_page_size: int = 100
    token_lifetime: int = 3599
    # Deployment profiles (issue 16): a new or changed Entra device is processed by the dynamic group rules after
    # ``membership_delay`` ("minutes", up to hours in large tenants), then the Autopilot service assigns the profile
    # those groups are targeted with after ``profile_assignment_delay`` (status pending meanwhile).
    membership_delay: float = 300.0
    profile_assignment_delay: float = 300.0
    sync_min_interval: float = 600.0
    sync_duration: float = 30.0
    batch_max: int = 20
    # $batch responses come back in no particular order (as Graph documents); false keeps the request order.
    batch_shuffle: bool = True
    # /import answers with the records in no particular order (Graph promises none); false keeps the request order.
    import_shuffle: bool = True
    # Import records that finish their processing are kept (the service never purges them in the lab).
    seed_users: bool = True
    # Seeds the lab's choices that Graph leaves open (the order of /import records); same seed, same order.
    seed: int = 2026

    def real(self, service_seconds):
        """Wall-clock seconds for a documented service duration."""
        return float(service_seconds) * self.time_scale
