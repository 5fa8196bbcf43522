using System.Text;

namespace ReverseSD.MLNet.Data;

/// <summary>RFC 4180 CSV: quoted fields may hold commas, quotes and new lines (real prompts do).</summary>
internal static class CsvTable
{
    /// <summary>Reads a CSV file into a header and rows; every row is padded or checked to the header's width.</summary>
    public static (string[] Header, List<string[]> Rows) Read(string path)
    {
        if (!File.Exists(path))
            throw new ReverseSdInputException($"CSV file '{path}' does not exist: check the path.");
        using var reader = new StreamReader(path, Encoding.UTF8);
        var records = Parse(reader, path).ToList();
        if (records.Count == 0)
            throw new ReverseSdInputException($"CSV file '{path}' is empty: it needs a header line.");
        var header = records[0].Select(h => h.Trim()).ToArray();
        var rows = new List<string[]>(records.Count - 1);
        for (int i = 1; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Length == 1 && r[0].Length == 0) continue; // blank line
            if (r.Length != header.Length)
                throw new ReverseSdInputException(
                    $"CSV file '{path}', record {i + 1}: {r.Length} fields but the header has {header.Length}. Quote fields that contain commas.");
            rows.Add(r);
        }
        return (header, rows);
    }

    /// <summary>Index of a column by name (case-insensitive), or -1.</summary>
    public static int IndexOf(string[] header, string column) =>
        Array.FindIndex(header, h => string.Equals(h, column, StringComparison.OrdinalIgnoreCase));

    /// <summary>Writes the rows to <paramref name="path"/> through a temporary file, so nothing half-written is left.</summary>
    public static void Write(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
            w.WriteLine(string.Join(",", header.Select(Quote)));
            foreach (var row in rows)
                w.WriteLine(string.Join(",", row.Select(Quote)));
        });
    }

    /// <summary>Quotes a field when it holds a comma, quote or line break.</summary>
    public static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 || (field.Length > 0 && (field[0] == ' ' || field[^1] == ' '))
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;

    private static IEnumerable<string[]> Parse(TextReader reader, string path)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        bool inQuotes = false, any = false;
        int c, line = 1, quoteLine = 0;
        while ((c = reader.Read()) != -1)
        {
            any = true;
            char ch = (char)c;
            if (ch == '\n') line++;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { field.Append('"'); reader.Read(); }
                    else inQuotes = false;
                }
                else field.Append(ch);
            }
            else if (ch == '"') { inQuotes = true; quoteLine = line; }
            else if (ch == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (ch == '\r') { }
            else if (ch == '\n')
            {
                fields.Add(field.ToString()); field.Clear();
                yield return fields.ToArray();
                fields.Clear(); any = false;
            }
            else field.Append(ch);
        }
        if (inQuotes)
            throw new ReverseSdInputException(
                $"CSV file '{path}': the quote opened on line {quoteLine} is never closed; close it (a quote inside a field is written twice: \"\").");
        if (any)
        {
            fields.Add(field.ToString());
            yield return fields.ToArray();
        }
    }
}
