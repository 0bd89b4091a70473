using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hush.Gateway.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Gateway.Tls;

/// <summary>
/// The server certificate of one TLS listener, read from a PEM certificate file (the leaf first, then any
/// intermediates, which are sent in the handshake) and a PEM private key file (RSA or ECDSA; PKCS#8, PKCS#1 or
/// SEC1). Replacing the files (cert-manager, a Kubernetes secret mount, certbot) takes effect on the next TLS
/// handshake without a restart: the handshake path looks at the files' write time and size at most once per
/// <see cref="CheckInterval"/>. A replacement that cannot be used — half written, a key that does not match,
/// not a server certificate — keeps the certificate in force and logs a warning; the next change is tried again.
/// </summary>
/// <remarks>
/// A replaced certificate is not disposed: a handshake that read it a moment earlier may still be using it,
/// and the runtime frees it when it is unreachable. Nothing here ever logs or throws file content.
/// </remarks>
public sealed partial class CertificateReloader : IDisposable
{
    /// <summary>
    /// How often the handshake path may look at the files: one <c>stat</c> pair per second costs nothing, and a
    /// renewed certificate is served within a second of being written.
    /// </summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>Larger PEM files are refused unread: a certificate chain is a few KiB, a key under 8 KiB.</summary>
    private const int MaxPemFileBytes = 1024 * 1024;

    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    private readonly string _certFile;
    private readonly string _keyFile;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _checkIntervalTicks;
    private readonly Lock _reloadLock = new();
    private Loaded _loaded;
    private FileStamps _attempted;
    private long _nextCheck;
    private bool _disposed;

    /// <summary>Loads the certificate of <paramref name="tls"/>.</summary>
    /// <param name="tls">The listener's <c>tls.cert_file</c> and <c>tls.key_file</c>.</param>
    /// <param name="logger">Where reloads and refused replacements are logged; none when null.</param>
    /// <param name="timeProvider">The clock of the once-per-<see cref="CheckInterval"/> check; the system clock when null.</param>
    /// <exception cref="InvalidOperationException">The files cannot be read or do not hold a usable certificate and key; the message names the files, never their content.</exception>
    public CertificateReloader(TlsConfig tls, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(tls);
        _certFile = tls.CertFile;
        _keyFile = tls.KeyFile;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _checkIntervalTicks = (long)(CheckInterval.TotalSeconds * _time.TimestampFrequency);

        var stamps = FileStamps.Read(_certFile, _keyFile);
        var (loaded, error, exception) = TryLoad(stamps);
        if (loaded is null)
        {
            throw new InvalidOperationException($"tls: cannot use cert_file '{_certFile}' with key_file '{_keyFile}': {error}", exception);
        }

        _loaded = loaded;
        _attempted = stamps;
        _nextCheck = _time.GetTimestamp() + _checkIntervalTicks;
        Log.Loaded(_logger, _certFile, loaded.Certificate.Thumbprint, loaded.NotAfterUtc, loaded.Intermediates);
        WarnIfOutsideValidity(loaded.Certificate);
    }

    /// <summary>The leaf certificate (with its private key) in force, after looking for replaced files if due.</summary>
    public X509Certificate2 Current
    {
        get
        {
            CheckIfDue();
            return Volatile.Read(ref _loaded).Certificate;
        }
    }

    /// <summary>
    /// The certificate in force with its intermediates, as SslStream sends it; built once per load, so a
    /// handshake does not build a chain. Looks for replaced files if due.
    /// </summary>
    public SslStreamCertificateContext CurrentContext
    {
        get
        {
            CheckIfDue();
            return Volatile.Read(ref _loaded).Context;
        }
    }

    /// <summary>
    /// Re-reads both files now whether or not they look changed (for a SIGHUP handler or an admin action). Returns true when they held
    /// a usable certificate, now in force; false keeps the certificate in force and logs why.
    /// </summary>
    public bool TryReload()
    {
        lock (_reloadLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return ReloadLocked(FileStamps.Read(_certFile, _keyFile));
        }
    }

    /// <summary>Disposes the certificate in force; call after the listener has stopped.</summary>
    public void Dispose()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _loaded.Certificate.Dispose();
        }
    }

    private void CheckIfDue()
    {
        var now = _time.GetTimestamp();
        var due = Volatile.Read(ref _nextCheck);
        if (now < due || Interlocked.CompareExchange(ref _nextCheck, now + _checkIntervalTicks, due) != due)
        {
            return;
        }

        // One handshake per interval wins the exchange above and pays for the stat (and, rarely, the reload);
        // a handshake that finds a reload running uses the certificate in force rather than waiting.
        if (!_reloadLock.TryEnter())
        {
            return;
        }

        try
        {
            var stamps = FileStamps.Read(_certFile, _keyFile);
            if (stamps != _attempted && !_disposed)
            {
                ReloadLocked(stamps);
            }
        }
        finally
        {
            _reloadLock.Exit();
        }
    }

    private bool ReloadLocked(FileStamps stamps)
    {
        // Remembered even when the load fails, so a broken file is reported once and retried on its next change.
        _attempted = stamps;
        var (loaded, error, _) = TryLoad(stamps);
        var current = _loaded.Certificate;
        if (loaded is null)
        {
            Log.ReplacementRefused(_logger, _certFile, _keyFile, error, current.Thumbprint);
            return false;
        }

        Volatile.Write(ref _loaded, loaded);
        Log.Reloaded(_logger, _certFile, loaded.Certificate.Thumbprint, loaded.NotAfterUtc, current.Thumbprint);
        WarnIfOutsideValidity(loaded.Certificate);
        return true;
    }

    /// <summary>Reads and checks both files; on failure a reason of our own wording (never file content).</summary>
    private (Loaded? Loaded, string Error, Exception? Exception) TryLoad(FileStamps stamps)
    {
        if (stamps.Cert.Length < 0 || stamps.Key.Length < 0)
        {
            return (null, (stamps.Cert.Length < 0 ? "cert_file" : "key_file") + " does not exist or cannot be read", null);
        }

        if (stamps.Cert.Length > MaxPemFileBytes || stamps.Key.Length > MaxPemFileBytes)
        {
            return (null, (stamps.Cert.Length > MaxPemFileBytes ? "cert_file" : "key_file") + $" is larger than {MaxPemFileBytes} bytes", null);
        }

        byte[] certBytes;
        byte[] keyBytes;
        try
        {
            certBytes = File.ReadAllBytes(_certFile);
            keyBytes = File.ReadAllBytes(_keyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, "a file cannot be read (" + e.GetType().Name + ")", e);
        }

        // Decoded into arrays that are cleared afterwards, not strings: the private key (which may also sit in
        // cert_file, when one file holds both) is not left in memory the collector keeps around for a while.
        var certChars = new char[Encoding.UTF8.GetMaxCharCount(certBytes.Length)];
        var keyChars = new char[Encoding.UTF8.GetMaxCharCount(keyBytes.Length)];
        try
        {
            var certLength = Encoding.UTF8.GetChars(certBytes, certChars);
            var keyLength = Encoding.UTF8.GetChars(keyBytes, keyChars);
            return Create(certChars.AsSpan(0, certLength), keyChars.AsSpan(0, keyLength));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(certBytes);
            CryptographicOperations.ZeroMemory(keyBytes);
            Array.Clear(certChars);
            Array.Clear(keyChars);
        }
    }

    private static (Loaded? Loaded, string Error, Exception? Exception) Create(ReadOnlySpan<char> certPem, ReadOnlySpan<char> keyPem)
    {
        X509Certificate2 pemCertificate;
        try
        {
            pemCertificate = X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        catch (ArgumentException e)
        {
            return (null, "the private key does not match the certificate", e);
        }
        catch (CryptographicException e)
        {
            return (null, "the files do not hold a PEM certificate and its unencrypted private key (RSA or ECDSA)", e);
        }

        using (pemCertificate)
        {
            if (!AllowsServerAuth(pemCertificate))
            {
                return (null, "the certificate's extended key usage does not allow TLS server authentication", null);
            }

            var intermediates = new X509Certificate2Collection();
            try
            {
                intermediates.ImportFromPem(certPem);
            }
            catch (CryptographicException e)
            {
                return (null, "cert_file holds a malformed certificate", e);
            }

            // The leaf is the first certificate of the file; the others are sent with it.
            for (var i = intermediates.Count - 1; i >= 0; i--)
            {
                if (intermediates[i].RawDataMemory.Span.SequenceEqual(pemCertificate.RawDataMemory.Span))
                {
                    intermediates[i].Dispose();
                    intermediates.RemoveAt(i);
                }
            }

            try
            {
                var certificate = WithPersistedKey(pemCertificate);

                // offline: the chain comes from the file; no AIA downloads when the context is built.
                var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
                return (new Loaded(certificate, context, intermediates.Count), string.Empty, null);
            }
            catch (CryptographicException e)
            {
                return (null, "the certificate and key cannot be prepared for TLS", e);
            }
        }
    }

    /// <summary>
    /// A key loaded from PEM is ephemeral, which SslStream cannot use on every platform (Windows refuses it);
    /// a PKCS#12 round trip gives it a key handle SslStream accepts everywhere.
    /// </summary>
    private static X509Certificate2 WithPersistedKey(X509Certificate2 certificate)
    {
        var pfx = certificate.Export(X509ContentType.Pfx);
        try
        {
            return X509CertificateLoader.LoadPkcs12(pfx, null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pfx);
        }
    }

    private static bool AllowsServerAuth(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509EnhancedKeyUsageExtension eku)
            {
                foreach (var oid in eku.EnhancedKeyUsages)
                {
                    if (oid.Value == ServerAuthOid)
                    {
                        return true;
                    }
                }

                return false;
            }
        }

        // No EKU extension: any use is allowed.
        return true;
    }

    private void WarnIfOutsideValidity(X509Certificate2 certificate)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var notBefore = certificate.NotBefore.ToUniversalTime();
        var notAfter = certificate.NotAfter.ToUniversalTime();
        if (now < notBefore || now > notAfter)
        {
            Log.OutsideValidity(_logger, _certFile, certificate.Thumbprint, notBefore, notAfter);
        }
    }

    /// <summary>One load: immutable, swapped as a whole so a handshake never sees a leaf with another's chain.</summary>
    private sealed record Loaded(X509Certificate2 Certificate, SslStreamCertificateContext Context, int Intermediates)
    {
        public DateTime NotAfterUtc { get; } = Certificate.NotAfter.ToUniversalTime();
    }

    /// <summary>Write time and size of a file; size -1 when it does not exist.</summary>
    private readonly record struct FileStamp(DateTime LastWriteUtc, long Length)
    {
        public static FileStamp Read(string path)
        {
            try
            {
                var info = new FileInfo(path);
                return info.Exists ? new FileStamp(info.LastWriteTimeUtc, info.Length) : new FileStamp(default, -1);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return new FileStamp(default, -1);
            }
        }
    }

    /// <summary>
    /// Both files' stamps. The size is part of it because file times can be coarse (a few milliseconds on
    /// Linux, two seconds on FAT), and a half-written file rarely has the final size.
    /// </summary>
    private readonly record struct FileStamps(FileStamp Cert, FileStamp Key)
    {
        public static FileStamps Read(string certFile, string keyFile) => new(FileStamp.Read(certFile), FileStamp.Read(keyFile));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4120, Level = LogLevel.Information, Message = "tls: serving certificate {Thumbprint} from {CertFile} (expires {NotAfter:o}, {Intermediates} intermediates)")]
        public static partial void Loaded(ILogger logger, string certFile, string thumbprint, DateTime notAfter, int intermediates);

        [LoggerMessage(EventId = 4121, Level = LogLevel.Information, Message = "tls: {CertFile} changed; now serving certificate {Thumbprint} (expires {NotAfter:o}) instead of {Previous}")]
        public static partial void Reloaded(ILogger logger, string certFile, string thumbprint, DateTime notAfter, string previous);

        [LoggerMessage(EventId = 4122, Level = LogLevel.Warning, Message = "tls: {CertFile} or {KeyFile} changed but cannot be used ({Reason}); still serving certificate {Thumbprint}")]
        public static partial void ReplacementRefused(ILogger logger, string certFile, string keyFile, string reason, string thumbprint);

        [LoggerMessage(EventId = 4123, Level = LogLevel.Warning, Message = "tls: certificate {Thumbprint} from {CertFile} is valid only from {NotBefore:o} to {NotAfter:o}; clients will refuse it")]
        public static partial void OutsideValidity(ILogger logger, string certFile, string thumbprint, DateTime notBefore, DateTime notAfter);
    }
}
