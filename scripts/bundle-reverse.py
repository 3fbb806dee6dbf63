# Rewrite an Evident bundle with its members in reverse order (same bytes per member), resealed:
# the same members, not in manifest order, so `verify` takes its general path (benchmarks).
# Usage: python3 scripts/bundle-reverse.py IN.bundle OUT.bundle (needs the zstd CLI).
import sys, tarfile, io, subprocess, hashlib, struct
src, dst = sys.argv[1], sys.argv[2]
raw = open(src, 'rb').read()[:-40]
tar_bytes = subprocess.run(['zstd', '-d', '-c'], input=raw, capture_output=True, check=True).stdout
tin = tarfile.open(fileobj=io.BytesIO(tar_bytes))
members = [(m, tin.extractfile(m).read()) for m in tin.getmembers()]
out = io.BytesIO()
tout = tarfile.open(fileobj=out, mode='w', format=tarfile.USTAR_FORMAT)
for m, data in reversed(members):
    tout.addfile(m, io.BytesIO(data))
tout.close()
comp = subprocess.run(['zstd', '-3', '-c', '--check'], input=out.getvalue(), capture_output=True, check=True).stdout
d = hashlib.sha256(comp).digest()
open(dst, 'wb').write(comp + struct.pack('<II', 0x184D2A5E, 32) + d)
print(len(members), 'members')
