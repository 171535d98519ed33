#!/usr/bin/env bash
# Installs the system packages the tests need, only when missing:
#   - Debian's chromium (Playwright e2e on SwiftShader WebGPU)
#   - Mesa's lavapipe from bookworm-backports (Dawn in Node rejects Debian 12's own Mesa 22.x)
set -euo pipefail
need_update=1
apt_update() { if [ "$need_update" = 1 ]; then apt-get update -qq; need_update=0; fi; }

if ! ls /etc/apt/sources.list.d/ 2>/dev/null | grep -q backports && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
fi

lvp_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24 && ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1
}
if ! lvp_ok; then
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "system: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
