using System.Security.Authentication;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Hush.Gateway.Tls;

/// <summary>
/// How a Hush listener speaks TLS: TLS 1.2 or 1.3 only, the certificate of a <see cref="CertificateReloader"/>
/// (so a renewed file is served on the next connection), ALPN for HTTP/2 (Kestrel's, from the listener's
/// protocols), and optionally a request for a client certificate that <see cref="ClientCertificateAuthenticator"/>
/// judges per request.
/// </summary>
public static class TlsListenerOptions
{
    /// <summary>The TLS versions served: 1.0 and 1.1 are deprecated (RFC 8996) and refused in the handshake.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>
    /// Makes <paramref name="listen"/> a TLS listener. Call inside <c>kestrel.Listen(address, port, listen =&gt; ...)</c>,
    /// after setting <see cref="ListenOptions.Protocols"/> or not: Kestrel reads them when the listener starts.
    /// </summary>
    /// <param name="listen">The Kestrel listener.</param>
    /// <param name="certificate">The server certificate; owned by the caller, disposed after the listener stops.</param>
    /// <param name="requestClientCertificate">True when mTLS is configured: clients are asked for a certificate.</param>
    public static void Apply(ListenOptions listen, CertificateReloader certificate, bool requestClientCertificate)
    {
        ArgumentNullException.ThrowIfNull(listen);
        listen.UseHttps(Create(certificate, requestClientCertificate));
    }

    /// <summary>
    /// The Kestrel HTTPS options of <see cref="Apply"/>.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A client certificate is requested with <see cref="ClientCertificateMode.AllowCertificate"/>, not
    /// <c>RequireCertificate</c>, and any certificate is let through the handshake. A refusal in the handshake is
    /// a TLS alert: the client sees "connection reset" with no reason, and Hush can neither count it in
    /// <c>hush_auth_failures_total</c> nor log who it was. Letting the request in means the authenticator answers
    /// 401 with the reason (<c>missing</c>, <c>bad_certificate</c>) and counts it, and a listener can take bearer
    /// tokens and client certificates side by side. No request is served unauthenticated either way.
    /// </para>
    /// <para>
    /// Kestrel needs a <see cref="HttpsConnectionAdapterOptions.ServerCertificateSelector"/> to accept the options,
    /// but a selected certificate is sent without the intermediates of the PEM file (SslStream looks for them in the
    /// system stores only) and has its chain built on every handshake. So <c>OnAuthenticate</c> hands SslStream the
    /// reloader's prebuilt <see cref="CertificateReloader.CurrentContext"/> instead, which carries the intermediates.
    /// </para>
    /// </remarks>
    public static HttpsConnectionAdapterOptions Create(CertificateReloader certificate, bool requestClientCertificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => certificate.Current,
            OnAuthenticate = (_, ssl) =>
            {
                ssl.ServerCertificateSelectionCallback = null;
                ssl.ServerCertificate = null;
                ssl.ServerCertificateContext = certificate.CurrentContext;
            },
            SslProtocols = Protocols,
            CheckCertificateRevocation = false,
            ClientCertificateMode = requestClientCertificate ? ClientCertificateMode.AllowCertificate : ClientCertificateMode.NoCertificate,

            // The authenticator decides, so a bad certificate gets a clear 401 instead of a TLS alert.
            ClientCertificateValidation = (_, _, _) => true,
        };
    }
}
