"""The machine's own Windows certificate stores, read through crypt32 with ``ctypes``.

``ssl.enum_certificates`` merges the machine's stores with the running account's and every
loaded profile's (CPython ``ssl_collect_certificates`` adds CURRENT_USER, its group policy,
SERVICES and USERS). A machine-wide bundle must hold only what the machine trusts, not what
the account that happened to run the build added for itself, so it reads the three machine
locations Node, Chromium and Mozilla read for the machine: LOCAL_MACHINE (which also shows
AuthRoot and SmartCardRoot), its group policy (GPO roots) and ENTERPRISE (AD roots).

Each item has the exact shape ``enum_certificates`` gives, ``(der, encoding, trust)``, made
the way CPython makes it (``_ssl.c``: ``certEncodingType``, ``parseKeyUsage``): the rest of
the Windows reader is the same for both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from build_ca_bundle.sources.windows import Item

# CertOpenStore's provider and flags (wincrypt.h).
CERT_STORE_PROV_SYSTEM_W = 10
CERT_STORE_OPEN_EXISTING_FLAG = 0x4000  # never create a store that is not there
CERT_STORE_READONLY_FLAG = 0x8000
# The machine's locations (CERT_SYSTEM_STORE_*_ID << 16), in the order CPython adds them.
MACHINE_LOCATIONS = {
    "LocalMachine": 0x20000,
    "LocalMachineEnterprise": 0x90000,
    "LocalMachineGroupPolicy": 0x80000,
}
# CertGetEnhancedKeyUsage: the EKU property alone, or the certificate's extension alone.
CERT_FIND_EXT_ONLY_ENHKEY_USAGE_FLAG = 0x2
CERT_FIND_PROP_ONLY_ENHKEY_USAGE_FLAG = 0x4
CRYPT_E_NOT_FOUND = 0x80092004
# CertOpenStore's errors for a store that is not there (with CERT_STORE_OPEN_EXISTING_FLAG).
# 0: what Wine answers for the ENTERPRISE location, which it does not implement.
_ABSENT = frozenset({0, 2, 3})  # ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND
X509_ASN_ENCODING = 0x1
PKCS_7_ASN_ENCODING = 0x10000


def encoding_name(encoding: int) -> str | int:
    """CPython's ``certEncodingType``: an exact match is named, anything else stays an int."""
    if encoding == X509_ASN_ENCODING:
        return "x509_asn"
    if encoding == PKCS_7_ASN_ENCODING:
        return "pkcs_7_asn"
    return encoding


def machine_enumerator() -> Callable[[str], list[Item]] | None:
    """``enum_certificates`` over the machine's locations only, or None off Windows."""
    if sys.platform == "win32":
        return _enumerate_machine
    else:  # noqa: RET505 (mypy checks one branch per platform)
        return None


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    class _CertContext(ctypes.Structure):
        _fields_ = [
            ("dwCertEncodingType", wintypes.DWORD),
            ("pbCertEncoded", ctypes.POINTER(ctypes.c_ubyte)),
            ("cbCertEncoded", wintypes.DWORD),
            ("pCertInfo", ctypes.c_void_p),
            ("hCertStore", ctypes.c_void_p),
        ]

    class _EnhKeyUsage(ctypes.Structure):
        _fields_ = [
            ("cUsageIdentifier", wintypes.DWORD),
            ("rgpszUsageIdentifier", ctypes.POINTER(ctypes.c_char_p)),
        ]

    _Context = ctypes.POINTER(_CertContext)

    def _crypt32() -> ctypes.WinDLL:
        library = ctypes.WinDLL("crypt32", use_last_error=True)
        library.CertOpenStore.argtypes = [
            ctypes.c_void_p,  # the provider: an integer constant passed as LPCSTR
            wintypes.DWORD,
            ctypes.c_void_p,
            wintypes.DWORD,
            ctypes.c_void_p,
        ]
        library.CertOpenStore.restype = ctypes.c_void_p
        library.CertEnumCertificatesInStore.argtypes = [ctypes.c_void_p, _Context]
        library.CertEnumCertificatesInStore.restype = _Context
        library.CertGetEnhancedKeyUsage.argtypes = [
            _Context,
            wintypes.DWORD,
            ctypes.c_void_p,
            ctypes.POINTER(wintypes.DWORD),
        ]
        library.CertGetEnhancedKeyUsage.restype = wintypes.BOOL
        library.CertFreeCertificateContext.argtypes = [_Context]
        library.CertCloseStore.argtypes = [ctypes.c_void_p, wintypes.DWORD]
        return library

    def _enumerate_machine(store: str) -> list[Item]:
        """The items of ``store`` in each machine location. A location without the store
        adds nothing; one that cannot be opened for another reason (access denied) is an
        OSError unless another location opened, as CPython has it; so is a certificate
        whose usages cannot be read."""
        crypt32 = _crypt32()
        name = ctypes.create_unicode_buffer(store)
        items: list[Item] = []
        opened, failure = False, None
        for location in MACHINE_LOCATIONS.values():
            flags = CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG | location
            handle = crypt32.CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, None, flags, name)
            if not handle:
                error = ctypes.get_last_error()
                if error not in _ABSENT:
                    failure = failure or ctypes.WinError(error)
                continue
            opened = True
            try:
                items.extend(_items(crypt32, handle))
            finally:
                crypt32.CertCloseStore(handle, 0)
        if failure is not None and not opened:
            raise failure
        return items

    def _items(crypt32: ctypes.WinDLL, handle: int) -> list[Item]:
        items: list[Item] = []
        context = crypt32.CertEnumCertificatesInStore(handle, None)
        while context:
            try:
                cert = context.contents
                der = ctypes.string_at(cert.pbCertEncoded, cert.cbCertEncoded)
                trust = _usages(crypt32, context, CERT_FIND_PROP_ONLY_ENHKEY_USAGE_FLAG)
                if trust is True:
                    trust = _usages(crypt32, context, CERT_FIND_EXT_ONLY_ENHKEY_USAGE_FLAG)
            except OSError:
                crypt32.CertFreeCertificateContext(context)  # the enumeration stops here
                raise
            items.append((der, encoding_name(cert.dwCertEncodingType), trust))
            # The next call frees the context it is given.
            context = crypt32.CertEnumCertificatesInStore(handle, context)
        return items

    def _usages(crypt32: ctypes.WinDLL, context: object, flags: int) -> bool | frozenset[str]:
        """CPython's ``parseKeyUsage``: True when there is none, else the usage OIDs."""
        size = wintypes.DWORD(0)
        if not crypt32.CertGetEnhancedKeyUsage(context, flags, None, ctypes.byref(size)):
            error = ctypes.get_last_error() & 0xFFFFFFFF
            if error == CRYPT_E_NOT_FOUND:
                return True
            raise ctypes.WinError(error)
        buffer = ctypes.create_string_buffer(size.value)
        if not crypt32.CertGetEnhancedKeyUsage(context, flags, buffer, ctypes.byref(size)):
            raise ctypes.WinError(ctypes.get_last_error())
        usage = ctypes.cast(buffer, ctypes.POINTER(_EnhKeyUsage)).contents
        oids = (usage.rgpszUsageIdentifier[i] for i in range(usage.cUsageIdentifier))
        return frozenset(oid.decode("ascii") for oid in oids if oid)
