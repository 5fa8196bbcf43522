using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace ReverseSD.MLNet.Tests;

/// <summary>
/// ML.NET's OnnxTransformer writes each ONNX model it loads to a temporary file, deleted only when the transformer is
/// disposed. The test run gets its own temporary folder; the test host is not always given a clean exit, so each run
/// also removes the folders of earlier runs whose process has ended.
/// </summary>
internal static class TestTempFolder
{
    private const string Prefix = "reversesd-tests-";

    [ModuleInitializer]
    internal static void Initialize()
    {
        string root = Path.GetTempPath();
        foreach (string old in Directory.EnumerateDirectories(root, Prefix + "*"))
        {
            string[] parts = Path.GetFileName(old)[Prefix.Length..].Split('-');
            if (int.TryParse(parts[0], out int pid) && !IsRunning(pid))
                TryDelete(old);
        }
        string scratch = Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        Environment.SetEnvironmentVariable("TMPDIR", scratch);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(scratch);
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
