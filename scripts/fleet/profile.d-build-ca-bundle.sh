# /etc/profile.d/build-ca-bundle.sh: build the user's bundle at login (nearly free when
# nothing changed) and export the variables other tools read. Install:
#   install -m 0644 profile.d-build-ca-bundle.sh /etc/profile.d/build-ca-bundle.sh
if command -v build-ca-bundle >/dev/null 2>&1; then
    build-ca-bundle --quiet --no-verify
    eval "$(build-ca-bundle env --shell sh)"
fi
