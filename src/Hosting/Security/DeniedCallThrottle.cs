using System.Collections.Concurrent;

namespace Granary.Server.Security;

/// <summary>
/// Keeps refused calls from flooding the log: per (identity, method, reason) at most one line per
/// interval; the refusals in between are counted and reported with the next line. The keys are
/// bounded: identity names come from configuration (or <c>anonymous</c>), methods from the contracts.
/// </summary>
internal sealed class DeniedCallThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly ConcurrentDictionary<(string Identity, string Method, string Reason), Window> _windows = new();

    /// <summary>True when this refusal should be logged; <paramref name="suppressed"/> is how many were not since the last line.</summary>
    public bool ShouldLog(string identity, string method, string reason, out long suppressed)
    {
        var window = _windows.GetOrAdd((identity, method, reason), static _ => new Window());
        var now = time.GetTimestamp();
        lock (window)
        {
            if (window.Logged && time.GetElapsedTime(window.LastLogged, now) < interval)
            {
                window.Suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = window.Suppressed;
            window.Suppressed = 0;
            window.Logged = true;
            window.LastLogged = now;
            return true;
        }
    }

    private sealed class Window
    {
        public bool Logged;
        public long LastLogged;
        public long Suppressed;
    }
}
