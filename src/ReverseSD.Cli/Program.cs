using ReverseSD.Cli;

// ML.NET's OnnxTransformer writes every ONNX model it loads to a temporary file and deletes it only when the
// transformer is disposed. Give this process its own temporary folder and remove it on exit, so nothing is left behind;
// the folders of killed runs are removed by the next run.
string temp = Path.GetTempPath();
ScratchFolder.RemoveStale(temp);
string scratch = ScratchFolder.Create(temp);
Environment.SetEnvironmentVariable("TMPDIR", scratch);
try
{
    // Results on stdout, errors on stderr (see CliStreams).
    return await CliApp.RunAsync(args, Console.Out, Console.Error);
}
finally
{
    try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}
