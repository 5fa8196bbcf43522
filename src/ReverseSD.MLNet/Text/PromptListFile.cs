using System.Text;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>Reads a list of prompts: a .csv file (one column of it) or any other text file (one prompt per line).</summary>
internal static class PromptListFile
{
    /// <summary>Default prompt column of a .csv input.</summary>
    public const string DefaultColumn = "prompt";

    /// <summary>True when <paramref name="path"/> is read as CSV (by its extension).</summary>
    public static bool IsCsv(string path) => string.Equals(Path.GetExtension(path), ".csv", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The prompts of <paramref name="path"/>, in file order. A missing or empty file, a missing column, or an
    /// empty prompt is a <see cref="ReverseSdInputException"/> that names the file and the line or row.
    /// </summary>
    public static List<string> Read(string path, string? column = null)
    {
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Input file '{path}' does not exist: check the path.");
        return IsCsv(path) ? ReadCsv(path, column ?? DefaultColumn) : ReadLines(path);
    }

    private static List<string> ReadLines(string path)
    {
        var lines = File.ReadAllLines(path, Encoding.UTF8).ToList();
        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[^1])) lines.RemoveAt(lines.Count - 1); // trailing blank lines
        if (lines.Count == 0)
            throw new ReverseSdInputException($"Input file '{path}' has no prompts: write one prompt per line.");
        for (int i = 0; i < lines.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
                throw new ReverseSdInputException($"Line {i + 1} of '{path}' is empty: every line must hold a prompt (remove blank lines).");
        }
        return lines;
    }

    private static List<string> ReadCsv(string path, string column)
    {
        var (header, rows) = CsvTable.Read(path);
        int index = CsvTable.IndexOf(header, column);
        if (index < 0)
            throw new ReverseSdInputException(
                $"Column '{column}' not found in '{path}' (columns: {string.Join(", ", header)}): choose one with --column.");
        if (rows.Count == 0)
            throw new ReverseSdInputException($"Input file '{path}' has a header but no rows: add one row per prompt.");
        var prompts = new List<string>(rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(rows[i][index]))
                throw new ReverseSdInputException(
                    $"Row {i + 1} of '{path}' (after the header) has an empty '{header[index]}': every row needs a prompt.");
            prompts.Add(rows[i][index]);
        }
        return prompts;
    }
}
