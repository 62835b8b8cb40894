"""The machine's own Windows certificate stores, read through crypt32 with ``ctypes``.

``ssl.enum_certificates`` merges the machine's stores with the running account's and every
loaded profile's (CPython ``ssl_collect_certificates`` adds CURRENT_USER, its group policy,
SERVICES and USERS). A machine-wide bundle must hold only what the machine trusts, not what
the account that happened to run the build added for itself, so it reads the machine's
locations as Node does (``CERT_STORE_PROV_SYSTEM_W``, open-existing and read-only):
LOCAL_MACHINE, whose logical ROOT already holds the .AuthRoot, .GroupPolicy, .Enterprise and
.SmartCard physical stores (Microsoft, "System Store Locations"), then its group policy and
ENTERPRISE locations on their own, in case the machine's own key is missing.

Each item has the shape ``enum_certificates`` gives, ``(der, encoding, trust)``, made the way
CPython makes it (``_ssl.c``: ``certEncodingType``, ``parseKeyUsage``), and, as there, each
item once (a group-policy root comes back from two locations): the rest of the Windows
reader is the same for both. One difference: a store no location has is an empty list here,
where CPython raises.
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
# CertOpenStore's errors for a store that is not there (with CERT_STORE_OPEN_EXISTING_FLAG):
# ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, and 0 (no reason: the last error is cleared
# before each call), which Wine gives for the ENTERPRISE location it does not implement.
_ABSENT = frozenset({0, 2, 3})
# How CertEnumCertificatesInStore says it reached the end; any other error cut it short.
_END_OF_STORE = frozenset({CRYPT_E_NOT_FOUND, 18})  # and ERROR_NO_MORE_FILES
CERT_CLOSE_STORE_FORCE_FLAG = 0x1
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
        adds nothing. LOCAL_MACHINE failing for another reason (access denied) is an
        OSError: it holds nearly all of the machine's roots and distrust. The others may
        fail if one location opened, as in CPython; a certificate whose usages cannot be
        read is an OSError too."""
        crypt32 = _crypt32()
        name = ctypes.create_unicode_buffer(store)
        items: dict[Item, None] = {}  # each item once, in order
        opened, failure = False, None
        for location_name, location in MACHINE_LOCATIONS.items():
            flags = CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG | location
            ctypes.set_last_error(0)  # so that 0 after a failure means "no reason given"
            handle = crypt32.CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, None, flags, name)
            if not handle:
                error = ctypes.get_last_error() & 0xFFFFFFFF
                if error not in _ABSENT:
                    failure = failure or ctypes.WinError(error)
                    if location_name == "LocalMachine":
                        raise failure
                continue
            opened = True
            try:
                items.update(dict.fromkeys(_items(crypt32, handle)))
            finally:
                crypt32.CertCloseStore(handle, CERT_CLOSE_STORE_FORCE_FLAG)
        if failure is not None and not opened:
            raise failure
        return list(items)

    def _items(crypt32: ctypes.WinDLL, handle: int) -> list[Item]:
        items: list[Item] = []
        context = crypt32.CertEnumCertificatesInStore(handle, None)
        try:
            while context:
                cert = context.contents
                der = ctypes.string_at(cert.pbCertEncoded, cert.cbCertEncoded)
                trust = _usages(crypt32, context, CERT_FIND_PROP_ONLY_ENHKEY_USAGE_FLAG)
                if trust is True:
                    trust = _usages(crypt32, context, CERT_FIND_EXT_ONLY_ENHKEY_USAGE_FLAG)
                items.append((der, encoding_name(cert.dwCertEncodingType), trust))
                # The next call frees the context it is given; NULL at the end.
                context = crypt32.CertEnumCertificatesInStore(handle, context)
            error = ctypes.get_last_error() & 0xFFFFFFFF
        finally:
            if context:  # stopped early by an exception: ours to free
                crypt32.CertFreeCertificateContext(context)
        if error not in _END_OF_STORE:
            raise ctypes.WinError(error)  # a store read halfway is not the store
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
            error = ctypes.get_last_error() & 0xFFFFFFFF
            if error == CRYPT_E_NOT_FOUND:
                return True  # as CPython's second call has it
            raise ctypes.WinError(error)
        usage = ctypes.cast(buffer, ctypes.POINTER(_EnhKeyUsage)).contents
        oids = (usage.rgpszUsageIdentifier[i] for i in range(usage.cUsageIdentifier))
        return frozenset(oid.decode("ascii") for oid in oids if oid)
