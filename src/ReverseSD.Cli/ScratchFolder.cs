using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ReverseSD.Cli;

/// <summary>
/// The private temporary folder of one reversesd process (TEMP/reversesd-PID-GUID): ML.NET's OnnxTransformer writes every
/// ONNX model it loads to a temporary file and deletes it only when the transformer is disposed, so the process points
/// TMPDIR here and removes the folder on exit. A killed process cannot; the next one removes what dead ones left.
/// </summary>
internal static partial class ScratchFolder
{
    [GeneratedRegex(@"^reversesd-(\d+)-[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex Name();

    /// <summary>Creates this process's folder under <paramref name="tempRoot"/>.</summary>
    public static string Create(string tempRoot)
    {
        string folder = Path.Combine(tempRoot, $"reversesd-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>
    /// Removes the folders under <paramref name="tempRoot"/> named as <see cref="Create"/> names them whose process is
    /// no longer running; nothing else. Returns how many were removed; one that cannot be removed is left alone.
    /// </summary>
    public static int RemoveStale(string tempRoot)
    {
        int removed = 0;
        IEnumerable<string> folders;
        try
        {
            folders = Directory.EnumerateDirectories(tempRoot, "reversesd-*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        foreach (string folder in folders)
        {
            var match = Name().Match(Path.GetFileName(folder));
            if (!match.Success || !int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || IsRunning(pid))
                continue;
            try
            {
                Directory.Delete(folder, recursive: true);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;   // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
