using System.Security.Cryptography.X509Certificates;

namespace Granary.Client.Security;

/// <summary>
/// The client's side of certificate identities: attaches a signed assertion
/// (<see cref="ClientCertificateAssertion"/>) to every call, signing a new one every
/// <see cref="RefreshInterval"/> (well inside the silos' shortest accepted lifetime, 5 minutes).
/// </summary>
public sealed class ClientCertificateCredentialFilter(X509Certificate2 certificate, string clusterId, TimeProvider time) : IOutgoingGrainCallFilter, IDisposable
{
    /// <summary>How often a new assertion is signed.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(2);

    private readonly Lock _lock = new();
    private (byte[] Assertion, DateTimeOffset SignedAt)? _current;

    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        RequestContext.Set(ClientCredentials.AssertionKey, Current());
        await context.Invoke();
    }

    /// <inheritdoc/>
    public void Dispose() => certificate.Dispose();

    private byte[] Current()
    {
        var now = time.GetUtcNow();
        var current = _current;
        if (current is { } c && now - c.SignedAt < RefreshInterval && now >= c.SignedAt)
        {
            return c.Assertion;
        }

        lock (_lock)
        {
            if (_current is { } again && now - again.SignedAt < RefreshInterval && now >= again.SignedAt)
            {
                return again.Assertion;
            }

            var assertion = ClientCertificateAssertion.Create(certificate, clusterId, now);
            _current = (assertion, now);
            return assertion;
        }
    }
}
